"""Dataset tooling: the BlendMimic3D ``datasets`` builder, its parquet exporter and dataset card,
and the Human3.6M (VideoPose3D format) adapter.

Nothing here is model code. ``datasets`` is imported lazily by the modules that need it (the
``data`` extra), so importing this package stays cheap.
"""
