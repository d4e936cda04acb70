"""Shared helpers with no knowledge of datasets or training: camera geometry, pose metrics, safe file
input/output, COCO-to-Human3.6M keypoints, and model-reference resolution.
"""
