"""The BlendMimic3D protocol, as `gcnrefine backbone/train/evaluate` run it: backbone predictions, refiner
training data and training, the SS3 evaluation, the project's goals, the report and the model card.
"""
