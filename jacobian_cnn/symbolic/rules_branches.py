"""Symbolic rules of the branch layers: :class:`~jacobian_cnn.Residual`, ``Add`` and ``Concat``.

Each path is a chain of layers with rules of their own (the identity path: ``I``); a path's
Jacobian is the product of its layers' symbolic Jacobians, as a chain's. ``Add`` and
``Residual`` sum the paths' Jacobians (``J = J_shortcut + J_body``); ``Concat`` puts each
path's rows at its outputs' positions in ``vec(y)``, the layer's own
``_positions``. A parameter inside a path is named as the layer names it,
``"body.0.kernel"``, and its entries carry the path and the layer (1-based) as a tag:
``k^{[body.1]}_{11}``.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import SymbolicProblem
>>> block = jc.Residual(jc.Dense(np.ones((2, 2))))
>>> SymbolicProblem(block, (2,)).jacobian().matrix
Matrix([
[w^{[body.1]}_{11} + 1,     w^{[body.1]}_{21}],
[    w^{[body.1]}_{12}, w^{[body.1]}_{22} + 1]])
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.ops.branches import Add, Concat, Residual
from jacobian_cnn.symbolic.sparse import Sparse

__all__ = ["BRANCH_RULES"]


class _BranchRule:
    """The paths' rules, composed like a chain's, and joined as the layer joins its outputs."""

    def __init__(self, layer, in_shape, out_shape, *, tag, x_numeric, **options):
        from jacobian_cnn.symbolic.rules import RULES, unsupported  # the rules table holds this rule

        self.layer, self.in_shape, self.out_shape = layer, tuple(in_shape), tuple(out_shape)
        probe = np.zeros(in_shape) if x_numeric is None else np.asarray(x_numeric, np.float64)
        self.paths, self.params, outputs = [], {}, []
        for name, path in zip(layer.path_names, layer.paths, strict=True):
            rules, x_l = [], probe
            for i, lay in enumerate(path.layers if path is not None else ()):
                if type(lay) not in RULES:
                    raise unsupported(f"layer {i} of path {name!r} of {layer!r}", lay)
                y_l = np.asarray(lay.forward(x_l))
                where = f"{name}.{i + 1}" if tag is None else f"{tag}.{name}.{i + 1}"
                rule = RULES[type(lay)](lay, x_l.shape, y_l.shape, tag=where,
                                        x_numeric=None if x_numeric is None else x_l,
                                        **dict(options, switches=None, winners=None, output_base="s"))
                rules.append(rule)
                self.params.update({f"{name}.{i}.{p}": v for p, v in rule.params.items()})
                x_l = y_l
            self.paths.append(rules)
            outputs.append(x_l)
        self.linear = all(rule.linear for rules in self.paths for rule in rules)
        self.rows = layer._positions(outputs) if isinstance(layer, Concat) else None

    def _inputs(self, rules, x):
        xs = [x]
        for rule in rules[:-1]:
            xs.append(rule.forward(xs[-1]))
        return xs

    def forward(self, x):
        outputs = []
        for rules in self.paths:
            xs = self._inputs(rules, x)
            outputs.append(rules[-1].forward(xs[-1]) if rules else x)
        return self.layer._join(outputs)

    def _path_jacobian(self, k, x, index, wrt):
        """``d vec(output of path k) / d vec(wrt)`` (``wrt`` of its layer ``index``)."""
        rules = self.paths[k]
        if not rules:
            return Sparse.identity(int(np.prod(self.in_shape)))
        xs = self._inputs(rules, x)
        J = rules[index].jacobian(xs[index], wrt)
        for rule, x_l in zip(rules[index + 1:], xs[index + 1:], strict=True):
            J = rule.jacobian(x_l, "input") @ J
        return J

    def jacobian(self, x, wrt):
        if wrt == "input":
            parts = [(k, self._path_jacobian(k, x, 0, "input")) for k in range(len(self.paths))]
        else:
            name, index, param = wrt.split(".", 2)
            k = self.layer.path_names.index(name)
            parts = [(k, self._path_jacobian(k, x, int(index), param))]
        n_rows = int(np.prod(self.out_shape))
        total = None
        for k, J in parts:
            J = J if self.rows is None else J.with_rows(self.rows[k], n_rows)
            total = J if total is None else total + J
        return total

    def abbreviations(self, x):
        """What the symbols of the paths' layers stand for (their ``abbreviations``)."""
        out = {}
        for rules in filter(None, self.paths):  # an identity path has no symbols
            for rule, x_l in zip(rules, self._inputs(rules, x), strict=True):
                if hasattr(rule, "abbreviations"):
                    out.update(rule.abbreviations(x_l))
        return out


BRANCH_RULES = {Add: _BranchRule, Residual: _BranchRule, Concat: _BranchRule}
"""The rule of each branch layer."""
