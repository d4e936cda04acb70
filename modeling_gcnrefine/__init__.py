"""gcnrefine: plug-and-play ST-GCN refinement of 3D human poses under occlusion.

Importing the package registers the refiner with transformers' Auto classes, so
``AutoModel.from_pretrained(folder)`` works for a saved refiner.
"""

from transformers import AutoConfig, AutoModel

from .configuration_gcnrefine import GCNRefineConfig
from .modeling_gcnrefine import GCNRefineModel, GCNRefineOutput

__version__ = "0.1.0"

AutoConfig.register(GCNRefineConfig.model_type, GCNRefineConfig, exist_ok=True)
AutoModel.register(GCNRefineConfig, GCNRefineModel, exist_ok=True)
# A saved folder carries `auto_map` and these files, so it loads with trust_remote_code=True
# in a process that never installed this package.
GCNRefineConfig.register_for_auto_class()
GCNRefineModel.register_for_auto_class("AutoModel")

__all__ = ["GCNRefineConfig", "GCNRefineModel", "GCNRefineOutput", "__version__"]
