"""Symbolic rules of batch normalization, layer normalization and LogSoftmax.

Normalizations are written with the statistics of each group as symbols: ``mu_{c}`` and
``sigma_{c} = sqrt(sigma^2_c + eps)`` (one group per channel for batch norm, ``mu`` and
``sigma`` for layer norm's single sample), so ``xhat_p = (a_p - mu_c) / sigma_c`` and the
classic entries of the readable definition
(:func:`~jacobian_cnn.ops.normalization.normalization_entries`) read

    d y_p / d a_q = gamma_c / (m sigma_c) * (m delta_pq - 1 - xhat_p xhat_q)

inside a group of ``m`` entries (training mode), ``gamma_c / sigma_c`` on the diagonal in
eval mode (``mu_c`` and ``sigma_c`` then stand for the running statistics), ``xhat_p`` wrt
``gamma`` and 1 wrt ``beta``. What the symbols stand for is the rule's
:meth:`~_NormRule.abbreviations` (:meth:`SymbolicProblem.abbreviations
<jacobian_cnn.symbolic.SymbolicProblem.abbreviations>`). LogSoftmax is written in the
softmax ``s_j = exp(a_j) / sum_k exp(a_k)`` of its input: ``delta_ij - s_j``.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.symbolic import SymbolicProblem
>>> problem = SymbolicProblem(jc.BatchNorm2D(gamma=[1.0], eps=0.0), (2, 1, 1))
>>> problem.jacobian().matrix[0, 1]
gamma_{1}*(-1 - (a_{11} - mu_{1})*(a_{21} - mu_{1})/sigma_{1}**2)/(2*sigma_{1})
>>> mu, sigma = problem.abbreviations().items()
>>> mu, sigma[0]
((mu_{1}, a_{11}/2 + a_{21}/2), sigma_{1})
"""

from __future__ import annotations

import numpy as np

from jacobian_cnn.errors import InvalidValueError
from jacobian_cnn.ops.activations import softmax_entries
from jacobian_cnn.ops.activations_more import LogSoftmax
from jacobian_cnn.ops.normalization import BatchNorm2D, LayerNorm, normalization_entries
from jacobian_cnn.symbolic.latex import entry_symbol, require_sympy
from jacobian_cnn.symbolic.names import as_rational, parameter_arrays, symbol_array, unvec_list, vec_list
from jacobian_cnn.symbolic.sparse import from_definition

__all__ = ["NORM_RULES"]


class _NormRule:
    """Batch or layer normalization of one sample, in the symbols ``mu`` and ``sigma``."""

    linear = False

    def __init__(self, layer, in_shape, out_shape, *, names, tag, params, **_):
        self.layer, self.in_shape, self.out_shape = layer, tuple(in_shape), tuple(out_shape)
        self.params = parameter_arrays(layer, names, tag, params)
        group, self.param_index, self.running = layer._groups(np.zeros(in_shape))
        self.group = group.tolist()
        n_groups = max(self.group, default=-1) + 1
        self.members = [[p for p, g in enumerate(self.group) if g == k] for k in range(n_groups)]
        self.training = self.running is None
        indexed = isinstance(layer, BatchNorm2D) or n_groups > 1  # layer norm of a batch: per sample
        index = (lambda g: (g + 1,)) if indexed else (lambda g: ())
        self.mu = [entry_symbol("mu", index(g), tag) for g in range(n_groups)]
        self.sigma = [entry_symbol("sigma", index(g), tag) for g in range(n_groups)]

    def _affine(self, name, default):
        if name not in self.params:
            return [require_sympy().Integer(default)] * len(self.group)
        flat = vec_list(self.params[name])
        return [flat[i] for i in self.param_index]

    def _xhat(self, x):
        return [(v - self.mu[g]) / self.sigma[g] for v, g in zip(vec_list(x), self.group, strict=True)]

    def forward(self, x):
        y = [gm * xh + bt for gm, xh, bt in zip(self._affine("gamma", 1), self._xhat(x),
                                                 self._affine("beta", 0), strict=True)]
        return unvec_list(y, self.out_shape)

    def jacobian(self, x, wrt):
        sympy = require_sympy()
        gamma, xhat, n = self._affine("gamma", 1), self._xhat(x), len(self.group)
        m = len(self.members[0]) if self.members else 1

        def normalized(p, q):
            g = self.group[p]
            return gamma[p] / (m * self.sigma[g]) * (m * int(p == q) - 1 - xhat[p] * xhat[q])

        values = {"normalized": normalized, "scale": lambda p: gamma[p] / self.sigma[self.group[p]],
                  "xhat": lambda p: xhat[p], "one": lambda: sympy.Integer(1)}
        n_cols = n if wrt == "input" else int(np.prod(self.layer._param_shape))
        members = self.members if self.training else None
        return from_definition(normalization_entries(self.group, members, self.param_index, wrt),
                               (n, n_cols), values)

    def abbreviations(self, x):
        """``{mu_c: mean, sigma_c: sqrt(variance + eps)}``: batch statistics as expressions in
        ``x`` (training; the variance written with ``mu_c``: substitute ``sigma_c`` first), the
        running statistics as exact numbers (eval)."""
        sympy = require_sympy()
        eps, flat, out = as_rational(self.layer.eps), vec_list(x), {}
        for g, members in enumerate(self.members):
            if self.training:
                mean = sympy.Add(*(flat[p] for p in members)) / len(members)
                var = sympy.Add(*((flat[p] - self.mu[g]) ** 2 for p in members)) / len(members)
            else:
                mean, var = (as_rational(r[g]) for r in self.running)
            out[self.mu[g]] = mean
            out[self.sigma[g]] = sympy.sqrt(var + eps)
        return out

    def aux_derivatives(self, x):
        """``{aux: {a_q: d aux / d a_q}}`` in the symbols: ``d mu_c / d a_q = 1/m`` and
        ``d sigma_c / d a_q = (a_q - mu_c) / (m sigma_c)`` in training mode; none in eval."""
        flat, out = vec_list(x), {}
        for g, members in enumerate(self.members if self.training else ()):
            m = len(members)
            out[self.mu[g]] = {flat[p]: require_sympy().Rational(1, m) for p in members}
            out[self.sigma[g]] = {flat[p]: (flat[p] - self.mu[g]) / (m * self.sigma[g]) for p in members}
        return out


class _LogSoftmaxRule:
    """``y_i = a_i - log sum_k exp(a_k)``; its Jacobian ``delta_ij - s_j`` in the softmax ``s``."""

    linear = False

    def __init__(self, layer, in_shape, out_shape, *, tag, **_):
        if len(in_shape) != 1:
            raise InvalidValueError(f"symbolic LogSoftmax takes one vector (n,); got shape {in_shape}")
        self.layer, self.in_shape, self.out_shape, self.params = layer, in_shape, out_shape, {}
        self.s = list(symbol_array("s", in_shape, tag))

    def forward(self, x):
        sympy = require_sympy()
        total = sympy.log(sympy.Add(*(sympy.exp(v) for v in x)))
        return unvec_list([v - total for v in x], self.out_shape)

    def jacobian(self, x, wrt):
        s = self.s

        def value(i, j):
            return 1 - s[j] if i == j else -s[j]

        return from_definition(softmax_entries(len(s), 1), (len(s), len(s)), {"softmax": value})

    def abbreviations(self, x):
        """``{s_j: exp(a_j) / sum_k exp(a_k)}``."""
        sympy = require_sympy()
        total = sympy.Add(*(sympy.exp(v) for v in x))
        return {s: sympy.exp(v) / total for s, v in zip(self.s, x, strict=True)}

    def aux_derivatives(self, x):
        """``{s_m: {a_j: s_m (delta_mj - s_j)}}``."""
        s = self.s
        return {s_m: {a_j: s_m * (int(m == j) - s[j]) for j, a_j in enumerate(x)} for m, s_m in enumerate(s)}


NORM_RULES = {BatchNorm2D: _NormRule, LayerNorm: _NormRule, LogSoftmax: _LogSoftmaxRule}
"""The rule of each normalization layer."""
