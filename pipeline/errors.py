"""The one exception type users see: its message is a single line naming the problem and the fix."""


class NeuronInfoError(Exception):
    """Bad input or a broken file. The CLI prints ``str(error)`` and exits with status 2."""
