"""Shared helpers with no knowledge of datasets or training: camera geometry, pose metrics, safe file
input/output, COCO-to-Human3.6M keypoints, filling keypoints missing in some frames, and model-reference
resolution.
"""
