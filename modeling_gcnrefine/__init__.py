"""gcnrefine: plug-and-play ST-GCN refinement of 3D human poses under occlusion."""

__version__ = "0.1.0"
