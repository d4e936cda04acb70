"""From a video to refined 3D poses: decoding, person detection and tracking, 2D keypoints (RT-DETR,
ViTPose), the lift-and-refine pipeline, and the overlay video.
"""
