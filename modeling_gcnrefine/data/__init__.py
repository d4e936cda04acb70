"""BlendMimic3D and the arrays derived from it: the upstream reader and `datasets` builder, loading and
splits, camera sequences, simulated detections and their files, real detections, virtual cameras,
prediction files, training windows and augmentation.
"""
