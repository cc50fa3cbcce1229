"""Check any layer or :class:`~jacobian_cnn.Chain` against PyTorch's or JAX's autograd.

For a layer (or a chain of them) this module builds the equivalent computation in
PyTorch (``torch.nn.functional`` on ``NCHW`` tensors) or JAX (``lax`` on ``NHWC``
arrays), differentiates it with ``torch.func.jacrev`` / ``jax.jacrev`` in float64,
maps the result into vec order with the explicit layout bridge of
:mod:`jacobian_cnn.compare.layout` (``P_y @ J_theirs @ P_x.T``) and compares it with this
package's sparse Jacobian using :func:`jacobian_cnn.compare_jacobians`. Index
conventions: :mod:`jacobian_cnn.vec`.

PyTorch and JAX are optional: they are imported only when a comparison asks for
them, and a missing one raises ``ImportError`` saying what to install.
:func:`available_backends` says which are installed.

Where a configuration has no native counterpart, the reference is composed from
the backend's primitives and :attr:`AutogradComparison.reference` says how:
asymmetric or oversized padding becomes an explicit ``pad``, PyTorch's
``ceil_mode`` becomes extra padding in JAX (which has no ceil mode), an average
pool's divisor in JAX is a window sum of ones. Max pooling with
``tie="column_major"`` (the default) differs from both libraries on ties: compare
``tie="row_major"`` layers on inputs with ties.

Examples
--------
>>> import numpy as np
>>> import jacobian_cnn as jc
>>> from jacobian_cnn.compare import autograd
>>> conv = jc.Conv2D(np.ones((2, 2, 2, 4)), groups=2, padding=1, padding_mode="reflect")
>>> x = np.random.default_rng(0).normal(size=(4, 4, 4))
>>> result = autograd.compare(conv, x, wrt="input")         # doctest: +SKIP
>>> print(result)                                            # doctest: +SKIP
vs torch, wrt input (forward error 8.9e-16)
  reference: F.pad(mode='reflect') -> F.conv2d(stride=(1, 1), dilation=(1, 1), groups=2, padding=0)
Jacobian (100, 64): max abs error 0.000e+00, max rel error 0.000e+00, 0 structural mismatches: OK

(Skipped as a doctest: it needs PyTorch; ``tests/test_autograd.py`` runs it all.)
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from jacobian_cnn._arguments import byte_limit
from jacobian_cnn.chain import Chain
from jacobian_cnn.checking import JacobianReport, compare_jacobians
from jacobian_cnn.compare.layout import jacobian_to_vec, permutation_matrix, to_layout
from jacobian_cnn.errors import InvalidTypeError, InvalidValueError, JacobianTooLargeError
from jacobian_cnn.ops.activations import ReLU, Sigmoid, Softmax, Tanh
from jacobian_cnn.ops.conv import Conv2D
from jacobian_cnn.ops.dense import Dense
from jacobian_cnn.ops.losses import MSELoss, SoftmaxCrossEntropy
from jacobian_cnn.ops.pooling import AvgPool2D, MaxPool2D
from jacobian_cnn.ops.reshape import Flatten

__all__ = ["BACKENDS", "AutogradComparison", "available_backends", "jacobian", "compare",
           "compare_all"]

BACKENDS = ("torch", "jax")

_INSTALL = {
    "torch": "pip install torch==2.13.0 (the CPU build; or the 'torch' extra of jacobian_cnn)",
    "jax": "pip install jax (or the 'jax' extra of jacobian_cnn)",
}

# Layout of each kind of array in each backend (see jacobian_cnn.compare.layout).
_LAYOUT = {
    "torch": {"maps": "NCHW", "vectors": "NC", "kernel": "OIHW", "weight": "NC", "bias": "C"},
    "jax": {"maps": "NHWC", "vectors": "NC", "kernel": "HWIO", "weight": "IO", "bias": "C"},
}


def available_backends():
    """The installed backends among ``("torch", "jax")``, without importing them.

    Examples
    --------
    >>> from jacobian_cnn.compare.autograd import available_backends
    >>> set(available_backends()) <= {"torch", "jax"}
    True
    """
    return tuple(b for b in BACKENDS if importlib.util.find_spec(b) is not None)


def _import(backend):
    if backend not in BACKENDS:
        raise InvalidValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if importlib.util.find_spec(backend) is None:
        raise ImportError(f"comparing with {backend} needs {backend}, which is not installed: "
                          f"{_INSTALL[backend]}")
    if backend == "torch":
        import torch
        return torch
    import jax
    return jax


@dataclass
class AutogradComparison:
    """One Jacobian of this package compared with a backend's autograd.

    Attributes
    ----------
    backend : str
        ``"torch"`` or ``"jax"``.
    wrt : str
        ``"input"``, a parameter name, or ``"layers[i].name"`` in a chain.
    reference : str
        The backend computation that was differentiated.
    shape : tuple
        ``(y.size, wrt.size)``.
    nnz : int
        Stored entries of this package's Jacobian.
    forward_error : float
        Largest ``|y - y_backend|`` of the forward passes.
    report : JacobianReport
        Errors, structural mismatches and the worst entries, labelled by meaning.
    note : str
        A known reason for a mismatch, if one applies (the max-pool tie rule).
    """

    backend: str
    wrt: str
    reference: str
    shape: tuple
    nnz: int
    forward_error: float
    report: JacobianReport
    note: str = ""

    @property
    def ok(self):
        """Whether the Jacobians agree (within tolerance, same structure)."""
        return self.report.ok

    def __str__(self):
        text = (f"vs {self.backend}, wrt {self.wrt} (forward error {self.forward_error:.1e})\n"
                f"  reference: {self.reference}\n{self.report}")
        return text + (f"\n  note: {self.note}" if self.note else "")


def jacobian(layer, x, wrt="input", *, backend="torch", max_bytes=None):
    """The backend's autograd Jacobian of ``layer`` at ``x``, in vec order (dense float64).

    Parameters
    ----------
    layer : layer or Chain
        Any layer of :mod:`jacobian_cnn` (convolution, pooling, flatten, dense,
        activations, softmax, losses) or a :class:`~jacobian_cnn.Chain` of them.
    x : array_like
        The input, in this package's layout.
    wrt : str or (int, str)
        ``"input"`` or a parameter name (``"kernel"``, ``"bias"``, ``"weight"``); for a
        chain, ``"input"`` or ``(layer_index, name)``.
    backend : {"torch", "jax"}
    max_bytes : int, optional
        Refuse (:class:`~jacobian_cnn.errors.JacobianTooLargeError`), before the
        backend is called, a dense Jacobian of ``y.size * wrt.size * 8`` bytes over
        this; default :data:`jacobian_cnn._arguments.DEFAULT_MAX_BYTES`.

    Returns
    -------
    numpy.ndarray
        ``d vec(y) / d vec(wrt)``, ``(y.size, wrt.size)``, numerator layout.

    Raises
    ------
    ImportError
        If the backend is not installed (the message says what to install).
    TypeError
        If a layer has no known equivalent in the backend.
    NotImplementedError
        If the backend cannot differentiate the configuration (JAX: max pooling
        with dilation).
    """
    return _reference(layer, x, wrt, backend, max_bytes)[0]


def compare(layer, x, wrt="input", *, backend="torch", atol=None, rtol=None, n_worst=5,
            max_bytes=None):
    """Compare ``layer.jacobian(x, wrt)`` with the backend's autograd Jacobian.

    Parameters
    ----------
    layer, x, wrt, backend
        As for :func:`jacobian`.
    atol, rtol : float, optional
        Entry tolerances of :func:`jacobian_cnn.compare_jacobians`; by default
        ``1e-10, 1e-9`` for float64 input and ``1e-5, 1e-4`` for float32.
    n_worst : int
        How many failing entries the report lists.
    max_bytes : int, optional
        Limit of the dense autograd Jacobian, as for :func:`jacobian` (refused before
        the backend is called); the comparison's work arrays may take 8 times as
        much, this package's own Jacobians are held to it too.

    Returns
    -------
    AutogradComparison
    """
    J_ref, y_ref, reference = _reference(layer, x, wrt, backend, max_bytes)
    ours, y, y_shape, p_shape = _ours(layer, x, wrt, max_bytes)
    single = np.asarray(x).dtype == np.float32
    atol = (1e-5 if single else 1e-10) if atol is None else atol
    rtol = (1e-4 if single else 1e-9) if rtol is None else rtol
    name = wrt if isinstance(wrt, str) else f"layers[{wrt[0]}].{wrt[1]}"
    report = compare_jacobians(ours, J_ref, y_shape=y_shape or (1,), x_shape=p_shape,
                               names=("y", "x" if name == "input" else name),
                               atol=atol, rtol=rtol, n_worst=n_worst,
                               max_bytes=8 * byte_limit(max_bytes))
    forward_error = float(np.max(np.abs(np.ravel(y, order="F") - y_ref), initial=0.0))
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    note = ""
    if not report.ok and any(isinstance(sub, MaxPool2D) and sub.tie == "column_major"
                             for sub in layers):
        note = (f"MaxPool2D's default tie='column_major' differs from {backend}'s rule (the first "
                "maximum in row-major order) where a window has tied maxima; tie='row_major' "
                "matches it")
    return AutogradComparison(backend, name, reference, tuple(ours.shape),
                              int(ours.nnz) if sp.issparse(ours) else int(np.count_nonzero(ours)),
                              forward_error, report, note)


def compare_all(layer, x, *, backends=None, atol=None, rtol=None, max_bytes=None):
    """:func:`compare` for the input and every parameter, with every backend.

    Parameters
    ----------
    backends : sequence of str, optional
        Default: the installed ones (:func:`available_backends`).
    atol, rtol, max_bytes
        As for :func:`compare`.

    Returns
    -------
    list of AutogradComparison
    """
    backends = available_backends() if backends is None else tuple(backends)
    wrts = ["input"]
    if isinstance(layer, Chain):
        wrts += [(i, name) for i, sub in enumerate(layer.layers) for name in sub.params]
    else:
        wrts += list(layer.params)
    return [compare(layer, x, wrt, backend=b, atol=atol, rtol=rtol, max_bytes=max_bytes)
            for b in backends for wrt in wrts]


# --- this package's side -----------------------------------------------------------

def _ours(layer, x, wrt, max_bytes=None):
    """``(J, y, y_shape, wrt_shape)`` from this package."""
    if isinstance(layer, Chain):
        y = np.asarray(layer.forward(x))
        if wrt == "input":
            return layer.jacobian(x, max_bytes=max_bytes), y, y.shape, np.shape(x)
        i, name = _chain_wrt(layer, wrt)
        # identity rows: the full Jacobian
        rows = layer.backward(x, max_bytes=max_bytes).params[i][name]
        return rows, y, y.shape, getattr(layer.layers[i], name).shape
    y = np.asarray(layer.forward(x))
    shape = np.shape(x) if wrt == "input" else getattr(layer, wrt).shape
    return layer.jacobian(x, wrt=wrt, max_bytes=max_bytes), y, y.shape, shape


def _check_dense_size(layer, x, wrt, target, max_bytes):
    """Refuse a dense ``(y.size, wrt.size)`` float64 Jacobian over ``max_bytes``, from
    this package's forward pass alone (before the backend is imported or called)."""
    limit = byte_limit(max_bytes)
    y_size = int(np.size(layer.forward(x)))
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    n_wrt = x.size if target is None else int(np.size(getattr(layers[target[0]], target[1])))
    estimate = y_size * n_wrt * 8
    if estimate > limit:
        raise JacobianTooLargeError(
            f"the autograd Jacobian of {layer!r} wrt {wrt!r} is dense: {y_size:,} x {n_wrt:,} "
            f"float64 entries, about {estimate:,} bytes, over max_bytes={limit:,}; pass a "
            "larger max_bytes or a smaller input")


def _chain_wrt(chain, wrt):
    try:
        i, name = wrt
        params = chain.layers[i].params
    except (TypeError, ValueError, IndexError):
        raise InvalidValueError(
            f"wrt for a Chain must be 'input' or (layer_index, name), got {wrt!r}") from None
    if name not in params:
        raise InvalidValueError(f"layers[{i}] ({chain.layers[i]!r}) has parameters {list(params)}, "
                         f"not {name!r}")
    return i, name


# --- the backend's side ------------------------------------------------------------

def _reference(layer, x, wrt, backend, max_bytes=None):
    """``(J in vec order, vec(y), description)`` from the backend's autograd."""
    x = np.asarray(x, dtype=np.float64)
    layers = layer.layers if isinstance(layer, Chain) else [layer]
    if isinstance(layer, Chain):
        target = None if wrt == "input" else _chain_wrt(layer, wrt)
    else:
        if wrt != "input" and wrt not in layer.params:
            raise InvalidValueError(f"{layer!r} has parameters {list(layer.params)}, not {wrt!r}")
        target = None if wrt == "input" else (0, wrt)
    _check_dense_size(layer, x, wrt, target, max_bytes)
    _import(backend)
    translate = _torch_op if backend == "torch" else _jax_op
    layouts = _LAYOUT[backend]

    # Walk the layers once with this package's forward pass to fix each array's kind
    # ("maps", "vectors", "scalar") and shape, translating every layer on the way.
    kind, h, ops, params = _input_kind(layers, x), x, [], {}
    x_kind = kind
    for i, sub in enumerate(layers):
        fn, out_kind, text = translate(sub, kind, h.shape)
        ops.append((fn, text))
        for name, value in sub.params.items():
            params[i, name] = to_layout(value, layouts[name])
        h = np.asarray(sub.forward(h))
        kind = out_kind if out_kind != "same" else kind
    y_shape, y_kind = h.shape, kind

    def run(arg):
        values = dict(params)
        if target is not None:
            values[target] = arg
        h = arg if target is None else x_native
        for i, (fn, _) in enumerate(ops):
            h = fn(h, {name: v for (j, name), v in values.items() if j == i})
        return h

    y_layout = layouts.get(y_kind)
    if target is None:
        arg_shape, arg_layout = x.shape, layouts[x_kind]
    else:
        arg_shape, arg_layout = getattr(layers[target[0]], target[1]).shape, layouts[target[1]]
    if backend == "torch":
        import torch
        from torch.func import jacrev

        x_native = torch.tensor(to_layout(x, layouts[x_kind]), dtype=torch.float64)
        params = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
        arg = x_native if target is None else params[target]
        with warnings.catch_warnings():  # torch's performance hint about padding='same'
            warnings.filterwarnings("ignore", message="Using padding='same'")
            y_native = run(arg).detach().numpy()
            # An empty output (N = 0) has an empty Jacobian; torch's jacrev fails on it
            # for some operations (a convolution's kernel).
            J = (jacrev(run)(arg).detach().numpy() if y_native.size
                 else np.zeros(y_native.shape + tuple(arg.shape)))
    else:
        import jax

        with _jax_x64(jax):
            x_native = jax.numpy.asarray(to_layout(x, layouts[x_kind]))
            params = {k: jax.numpy.asarray(v) for k, v in params.items()}
            arg = x_native if target is None else params[target]
            y_native = np.asarray(run(arg))
            J = np.asarray(jax.jit(jax.jacrev(run))(arg))
    J = jacobian_to_vec(J, y_shape if y_layout else (), y_layout, arg_shape, arg_layout)
    y_vec = (permutation_matrix(y_shape, y_layout) @ y_native.ravel() if y_layout
             else y_native.ravel())
    return J, y_vec, " -> ".join(text for _, text in ops)


def _jax_x64(jax):
    """JAX's float64 mode for the duration of a comparison, without touching the global flag."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # older JAX
        from jax.experimental import enable_x64 as enable
    return enable(True) if enable is not None else contextlib.nullcontext()


def _input_kind(layers, x):
    """Whether ``x`` is read as feature maps or vectors: the first layer that cares decides."""
    for layer in layers:
        if isinstance(layer, (Conv2D, AvgPool2D, MaxPool2D, Flatten)):
            return "maps"
        if isinstance(layer, (Dense, Softmax, SoftmaxCrossEntropy)):
            return "vectors"
    return "vectors" if np.ndim(x) == 1 else "maps"  # elementwise all the way


class _NoEquivalentError(InvalidTypeError, NotImplementedError):
    """A layer type with no translation to the backend.

    It is both errors the callers document: a ``TypeError`` from :func:`compare` and
    :func:`jacobian`, a ``NotImplementedError`` from
    :func:`jacobian_cnn.training.torch_gradients`.
    """


def _unsupported(layer, backend):
    return _NoEquivalentError(
        f"no {backend} equivalent is known for {layer!r} ({type(layer).__name__}); "
        "supported: Conv2D, AvgPool2D, MaxPool2D, Flatten, Dense, ReLU, Sigmoid, "
        "Tanh, Softmax, MSELoss, SoftmaxCrossEntropy and Chains of them")


def _overhang(layer, shape):
    """Extra bottom/right extent of ``ceil_mode`` windows past the padding, per axis."""
    geo = layer.geometry(shape[:2])
    out = []
    for axis in range(2):
        span = geo.dilation[axis] * (geo.window[axis] - 1) + 1
        end = (geo.out_size[axis] - 1) * geo.stride[axis] + span
        out.append(max(0, end - (geo.in_size[axis] + sum(geo.padding[axis]))))
    return tuple(out)


def _torch_native_pool(layer):
    """Whether torch's own pooling padding expresses the layer's (symmetric, <= window/2)."""
    (top, bottom), (left, right) = layer.padding
    return (top == bottom and left == right and top <= layer.window[0] // 2
            and left <= layer.window[1] // 2)


def _torch_op(layer, kind, shape, *, follow_tie=False):
    """``(fn(x, params), out_kind, text)``: the layer as torch functions on NCHW / (N, n).

    ``shape`` is the layer's input shape in our layout; ``params`` hold the layer's
    parameters in torch's layouts (``_LAYOUT["torch"]``). With ``follow_tie`` a
    ``MaxPool2D(tie="column_major")`` keeps its own tie rule (see
    :func:`_torch_column_major_max_pool`); otherwise every max pool uses torch's.
    """
    import torch
    import torch.nn.functional as F

    if isinstance(layer, Conv2D):
        (top, bottom), (left, right) = layer.padding
        kw = dict(stride=layer.stride, dilation=layer.dilation, groups=layer.groups)
        pad, text = None, ""
        if layer.padding_mode != "zeros":
            pad = dict(pad=(left, right, top, bottom), mode=layer.padding_mode)
            kw["padding"], text = 0, f"F.pad(mode={layer.padding_mode!r}) -> "
        elif layer.padding_name is not None:
            kw["padding"] = layer.padding_name
        elif top == bottom and left == right:
            kw["padding"] = (top, left)
        else:
            pad = dict(pad=(left, right, top, bottom))
            kw["padding"], text = 0, "F.pad -> "
        text += "F.conv2d(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"

        def conv(x, p):
            return F.conv2d(x if pad is None else F.pad(x, **pad), p["kernel"], p.get("bias"), **kw)
        return conv, "maps", text

    if isinstance(layer, (AvgPool2D, MaxPool2D)):
        if follow_tie and isinstance(layer, MaxPool2D) and layer.tie == "column_major":
            return _torch_column_major_max_pool(layer, shape, torch, F)
        return _torch_pool(layer, shape, torch, F)
    if isinstance(layer, Flatten):
        perm = {"torch": (0, 1, 2, 3), "C": (0, 2, 3, 1), "F": (0, 1, 3, 2)}[layer.order]
        return (lambda x, p: x.permute(perm).flatten(1)), "vectors", \
            f"permute{perm}.flatten(1)"
    if isinstance(layer, Dense):
        return (lambda x, p: F.linear(x, p["weight"], p.get("bias"))), "vectors", "F.linear"
    elementwise = {ReLU: torch.relu, Sigmoid: torch.sigmoid, Tanh: torch.tanh}
    if type(layer) in elementwise:
        f = elementwise[type(layer)]
        return (lambda x, p: f(x)), "same", f"torch.{f.__name__}"
    if isinstance(layer, Softmax):
        return (lambda x, p: torch.softmax(x, dim=1)), "vectors", "torch.softmax(dim=1)"
    if isinstance(layer, MSELoss):
        target = torch.tensor(to_layout(layer.target, _LAYOUT["torch"][kind]), dtype=torch.float64)
        return (lambda x, p: F.mse_loss(x, target)), "scalar", "F.mse_loss"
    if isinstance(layer, SoftmaxCrossEntropy):
        labels = torch.tensor(np.atleast_1d(layer.labels).astype(np.int64))
        return (lambda x, p: F.cross_entropy(x, labels)), "scalar", "F.cross_entropy"
    raise _unsupported(layer, "torch")


def _torch_pool(layer, shape, torch, F):
    k, s, d = layer.window, layer.stride, layer.dilation
    (top, bottom), (left, right) = layer.padding
    eh, ew = _overhang(layer, shape)
    # A composed pool covers every window that fits the padded input; ceil_mode drops a
    # last window that would start in the bottom/right padding, so keep the first out_size.
    oh, ow = layer.geometry(shape[:2]).out_size
    crop = f" -> [:{oh}, :{ow}]" if layer.ceil_mode else ""
    if isinstance(layer, MaxPool2D):
        if layer.pad_value is None and _torch_native_pool(layer):
            text = (f"F.max_pool2d(kernel_size={k}, stride={s}, padding={(top, left)}, "
                    f"dilation={d}, ceil_mode={layer.ceil_mode})")
            return (lambda x, p: F.max_pool2d(x, k, s, (top, left), d, ceil_mode=layer.ceil_mode)), \
                "maps", text
        fill = -np.inf if layer.pad_value is None else layer.pad_value

        def max_pool(x, p):
            x = F.pad(x, (left, right, top, bottom), value=fill)
            x = F.pad(x, (0, ew, 0, eh), value=-np.inf)  # ceil_mode's overhang never wins
            return F.max_pool2d(x, k, s, 0, d)[..., :oh, :ow]
        return max_pool, "maps", (f"F.pad(value={fill}) -> F.pad(overhang {(eh, ew)}, -inf) -> "
                                  f"F.max_pool2d(kernel_size={k}, stride={s}, dilation={d}){crop}")
    if layer.dilation == (1, 1) and _torch_native_pool(layer):
        kw = dict(kernel_size=k, stride=s, padding=(top, left), ceil_mode=layer.ceil_mode,
                  count_include_pad=layer.count_include_pad,
                  divisor_override=layer.divisor_override)
        text = "F.avg_pool2d(" + ", ".join(f"{a}={v!r}" for a, v in kw.items()) + ")"
        return (lambda x, p: F.avg_pool2d(x, **kw)), "maps", text
    # Composed: window sums by a depthwise convolution with ones, divided by the counts
    # of the taps that exist (inside the padded input, or inside the input).
    h, w = shape[:2]
    pads = (left, right + ew, top, bottom + eh)
    mask = torch.ones(1, 1, h + top + bottom, w + left + right, dtype=torch.float64)
    if not layer.count_include_pad:
        mask = F.pad(torch.ones(1, 1, h, w, dtype=torch.float64), (left, right, top, bottom))
    ones = torch.ones(1, 1, *k, dtype=torch.float64)
    counts = F.conv2d(F.pad(mask, (0, ew, 0, eh)), ones, stride=s, dilation=d)[..., :oh, :ow]
    divisor = counts if layer.divisor_override is None else float(layer.divisor_override)

    def avg_pool(x, p):
        c = x.shape[1]
        sums = F.conv2d(F.pad(x, pads), ones.expand(c, 1, *k), stride=s, dilation=d, groups=c)
        return sums[..., :oh, :ow] / divisor  # cropped first: a dropped window may count 0 taps
    return avg_pool, "maps", (f"F.pad{pads} -> depthwise F.conv2d(ones {k}, stride={s}, "
                              f"dilation={d}){crop} / window counts")


def _torch_column_major_max_pool(layer, shape, torch, F):
    """Max pooling whose ties go to the first maximum in column-major window order.

    torch takes the first in row-major order; on the maps with ``H`` and ``W``
    swapped (and the layer's geometry swapped with them) row-major order is the
    original column-major order, so the translation is torch's max pool between
    two transposes.
    """
    mirror = MaxPool2D(layer.window[::-1], stride=layer.stride[::-1], padding=layer.padding[::-1],
                       dilation=layer.dilation[::-1], pad_value=layer.pad_value, tie="row_major",
                       ceil_mode=layer.ceil_mode)
    pool, kind, text = _torch_pool(mirror, (shape[1], shape[0]), torch, F)
    return ((lambda x, p: pool(x.transpose(2, 3), p).transpose(2, 3)), kind,
            f"transpose(H, W) -> {text} -> transpose(H, W) (column-major ties)")


def _jax_op(layer, kind, shape):
    """``(fn(x, params), out_kind, text)``: the layer as JAX functions on NHWC / (N, n)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    if isinstance(layer, Conv2D):
        (top, bottom), (left, right) = layer.padding
        mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(layer.padding_mode)
        if mode is not None:
            padding, text = ((0, 0), (0, 0)), f"jnp.pad(mode={mode!r}) -> "
        elif layer.padding_name is not None:
            padding, text = layer.padding_name.upper(), ""
        else:
            padding, text = layer.padding, ""
        text += (f"lax.conv_general_dilated(NHWC/HWIO, strides={layer.stride}, padding={padding!r}, "
                 f"rhs_dilation={layer.dilation}, feature_group_count={layer.groups})")

        def conv(x, p):
            if mode is not None:
                x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=mode)
            y = lax.conv_general_dilated(x, p["kernel"], layer.stride, padding,
                                         rhs_dilation=layer.dilation,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         feature_group_count=layer.groups)
            return y if "bias" not in p else y + p["bias"]
        return conv, "maps", text

    if isinstance(layer, (AvgPool2D, MaxPool2D)):
        (top, bottom), (left, right) = layer.padding
        eh, ew = _overhang(layer, shape)
        dims, strides = (1, *layer.window, 1), (1, *layer.stride, 1)
        dilation = (1, *layer.dilation, 1)
        pads = ((0, 0), (top, bottom + eh), (left, right + ew), (0, 0))
        oh, ow = layer.geometry(shape[:2]).out_size  # as in _torch_pool: ceil_mode may drop one
        text = f"lax.reduce_window(window={layer.window}, strides={layer.stride}, padding={pads[1:3]}"
        text += f", window_dilation={layer.dilation})"
        text += f" -> [:{oh}, :{ow}]" if layer.ceil_mode else ""
        if isinstance(layer, MaxPool2D):
            if layer.dilation != (1, 1):
                raise NotImplementedError(
                    f"JAX cannot differentiate max pooling with window dilation ({layer!r}): "
                    "lax.reduce_window's max has no VJP with window_dilation")
            pre = None
            if layer.pad_value is not None:
                pre = ((0, 0), (top, bottom), (left, right), (0, 0))
                pads = ((0, 0), (0, eh), (0, ew), (0, 0))
                text = f"jnp.pad(constant {layer.pad_value}) -> " + text

            def max_pool(x, p):
                if pre is not None:
                    x = jnp.pad(x, pre, constant_values=layer.pad_value)
                return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, pads,
                                         window_dilation=dilation)[:, :oh, :ow]
            return max_pool, "maps", text + ", max, init -inf"
        h, w = shape[:2]
        mask = np.ones((1, h + top + bottom, w + left + right, 1))
        mask_pads = ((0, 0), (0, eh), (0, ew), (0, 0))
        if not layer.count_include_pad:
            mask, mask_pads = np.ones((1, h, w, 1)), pads

        def avg_pool(x, p):
            sums = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads,
                                     window_dilation=dilation)[:, :oh, :ow]
            if layer.divisor_override is not None:
                return sums / layer.divisor_override
            counts = lax.reduce_window(jnp.asarray(mask, dtype=x.dtype), 0.0, lax.add, dims,
                                       strides, mask_pads, window_dilation=dilation)
            return sums / counts[:, :oh, :ow]
        return avg_pool, "maps", text + ", add) / window counts"
    if isinstance(layer, Flatten):
        perm = {"C": (0, 1, 2, 3), "torch": (0, 3, 1, 2), "F": (0, 3, 2, 1)}[layer.order]
        # The size written out: reshape(0, -1) is ambiguous on an empty batch.
        return (lambda x, p: jnp.transpose(x, perm).reshape(x.shape[0], int(np.prod(x.shape[1:])))
                ), "vectors", f"transpose{perm}.reshape(N, -1)"
    if isinstance(layer, Dense):
        def dense(x, p):
            return x @ p["weight"] + p["bias"] if "bias" in p else x @ p["weight"]
        return dense, "vectors", "x @ W + b"
    elementwise = {ReLU: (jax.nn.relu, "jax.nn.relu"), Sigmoid: (jax.nn.sigmoid, "jax.nn.sigmoid"),
                   Tanh: (jnp.tanh, "jnp.tanh")}
    if type(layer) in elementwise:
        f, text = elementwise[type(layer)]
        return (lambda x, p: f(x)), "same", text
    if isinstance(layer, Softmax):
        return (lambda x, p: jax.nn.softmax(x, axis=1)), "vectors", "jax.nn.softmax(axis=1)"
    if isinstance(layer, MSELoss):
        target = to_layout(layer.target, _LAYOUT["jax"][kind])
        return (lambda x, p: jnp.mean((x - target) ** 2)), "scalar", "jnp.mean((y - t)**2)"
    if isinstance(layer, SoftmaxCrossEntropy):
        labels = np.atleast_1d(layer.labels).astype(np.int64)

        def xent(x, p):
            logp = jax.nn.log_softmax(x, axis=1)
            return -jnp.mean(logp[np.arange(labels.size), labels])
        return xent, "scalar", "-mean(jax.nn.log_softmax(axis=1)[labels])"
    raise _unsupported(layer, "jax")
