"""The artifact layer: an exported directory's manifest (`manifest`) and the TensorRT engines built from it (`engines`)."""
