"""The one Accelerate training loop (refiner and lifter alike) and its documented arguments."""
