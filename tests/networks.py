"""The kinds of network the engine tests (ablation, pruning) cover, at the sizes each test file chooses."""


def network_kinds(sizes: tuple[int, ...], deep_sizes: tuple[int, ...]) -> dict[str, dict]:
    """NetworkSpec options by name: relu and sigmoid, plain and with batch norm (and dropout); the relu
    one with batch norm has ``deep_sizes`` (more layers), the others ``sizes``."""
    return {
        "relu": dict(hidden_sizes=sizes, activation="relu", regularizer="none"),
        "sigmoid": dict(hidden_sizes=sizes, activation="sigmoid", regularizer="none"),
        "relu-bn": dict(hidden_sizes=deep_sizes, activation="relu", regularizer="dropout_bn", dropout=0.1),
        "sigmoid-bn": dict(hidden_sizes=sizes, activation="sigmoid", regularizer="dropout_bn", dropout=0.1),
    }
