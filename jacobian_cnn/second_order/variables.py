"""The variables a network Hessian is taken over: ``"input"`` and ``(layer index, name)``.

The order is fixed: the input first, then the parameters layer by layer in each layer's
``params`` order. A Hessian's rows and columns run over the concatenated ``vec`` of these
variables (:mod:`jacobian_cnn.vec`).
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError


def variables(chain, wrt):
    """The ordered list of variable keys ``wrt`` names in ``chain``.

    ``wrt`` is ``"input"``, ``"params"`` (every parameter), ``"all"`` (both), a pair
    ``(layer index, name)`` or a list of those.

    Examples
    --------
    >>> import numpy as np
    >>> import jacobian_cnn as jc
    >>> from jacobian_cnn.second_order.variables import variables
    >>> net = jc.Chain([jc.Dense(np.ones((2, 2)), [0., 0.]), jc.MSELoss(np.zeros(2))])
    >>> variables(net, "all")
    ['input', (0, 'weight'), (0, 'bias')]
    >>> variables(net, [(0, "bias"), "input"])
    ['input', (0, 'bias')]
    """
    every = ["input"] + [(i, name) for i, layer in enumerate(chain.layers) for name in layer.params]
    if isinstance(wrt, str):
        named = {"input": ["input"], "params": every[1:], "all": every}
        if wrt not in named:
            raise InvalidValueError(f"wrt must be 'input', 'params', 'all', a pair (layer index, "
                                    f"name) or a list of those; got {wrt!r}")
        chosen = named[wrt]
    elif isinstance(wrt, tuple):
        chosen = [wrt]
    else:
        chosen = list(wrt)
    chosen = [key if key == "input" else (int(key[0]) % len(chain.layers), key[1])
              if isinstance(key, tuple) and len(key) == 2 else key for key in chosen]
    for key in chosen:
        if key not in every:
            raise InvalidValueError(f"unknown variable {key!r}; the chain has {every}")
    if not chosen:
        raise InvalidValueError(f"wrt={wrt!r} names no variable of the chain (it has {every})")
    return [key for key in every if key in chosen]


def variable_sizes(chain, x, keys):
    """``{key: size}`` of each variable."""
    return {key: np.size(x) if key == "input" else np.size(chain.layers[key[0]].params[key[1]])
            for key in keys}

