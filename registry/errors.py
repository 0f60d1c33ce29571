"""The one error type of the registry package, in a module of its own so that every registry
module can raise it without importing the others."""


class RegistryError(RuntimeError):
    """A model, version or stage request that cannot be honoured; the message says why."""
