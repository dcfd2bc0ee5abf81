"""The Docker side of container labs (I/O): the engine the lab talks to (``engine``) and the
lab's own node image, built without a registry (``images``)."""
