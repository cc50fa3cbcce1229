"""``jacobian-cnn train``: the seed's 3-layer CNN trained on 8x8 digits from explicit Jacobians."""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from jacobian_cnn import training
from jacobian_cnn._arguments import DEFAULT_MAX_BYTES
from jacobian_cnn.cli import _options
from jacobian_cnn.cli._options import (
    fraction,
    nonnegative_float,
    open_fraction,
    positive_float,
    positive_int,
    refuse_over,
)
from jacobian_cnn.errors import InvalidValueError

BAR_WIDTH = 24

PLOT_NAME = "training_curves.png"
"""File written inside the folder when ``--plot`` names an existing folder."""

N_IMAGES = 1797
"""Images in scikit-learn's 8x8 digits."""


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train the seed's 3-layer CNN on scikit-learn's 8x8 digits with gradients "
                      "from explicit Jacobians",
        description="Mini-batch gradient descent on scikit-learn's bundled 8x8 digits (no "
                    "download). Every gradient is the row g pushed through each layer's explicit "
                    "sparse Jacobian (g <- g @ J) by Chain.backward, a batch being one "
                    "(8, 8, 1, N) array with block-diagonal Jacobians. Exit status: 0 done, "
                    "1 a requested check failed (--min-accuracy, --check-torch), 2 error, 3 a bug "
                    "in jacobian-cnn (see jacobian-cnn --help).")
    p.add_argument("--epochs", type=positive_int, default=5,
                   help="passes over the training set (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="images per step (default 16)")
    p.add_argument("--learning-rate", type=positive_float, default=0.3,
                   help="step size of the first epoch (default 0.3)")
    p.add_argument("--decay", type=nonnegative_float, default=0.5,
                   help="epoch e steps with learning-rate / (1 + decay (e - 1)) (default 0.5)")
    p.add_argument("--channels", type=positive_int, nargs=2, default=(4, 8), metavar=("C1", "C2"),
                   help="channels of the two conv layers (default 4 8)")
    p.add_argument("--test-fraction", type=open_fraction, default=0.25,
                   help="fraction of the 1797 images held out, in (0, 1) (default 0.25)")
    _options.add_seed(p, "the split, weights and shuffling")
    p.add_argument("--min-accuracy", type=fraction, default=None, metavar="A",
                   help="exit 1 unless the final test accuracy is at least A (a fraction, e.g. 0.6)")
    p.add_argument("--check-torch", action="store_true",
                   help="at every step, compare the gradients with torch autograd on the same "
                        "weights (needs torch)")
    p.add_argument("--tolerance", type=nonnegative_float, default=1e-10,
                   help="largest accepted |ours - torch| with --check-torch (default 1e-10)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="save the loss and accuracy curves to FILE (needs matplotlib; an "
                        f"existing folder gets {PLOT_NAME} inside it)")
    p.add_argument("--max-bytes", type=positive_int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help="largest Jacobian or activation array of a step, in bytes, estimated "
                        f"from --channels and --batch-size (default {DEFAULT_MAX_BYTES:,})")
    p.set_defaults(run=run)


def _check_args(args):
    """Refuse, from the options alone, a network whose arrays exceed ``--max-bytes``.

    The largest arrays of a step are the second convolution's Jacobians (wrt its
    input and its kernel): ``4 * 4 * C2 * batch`` rows of ``9 * C1`` entries, 12 bytes
    each (value and column index), the first layer's activations over the
    evaluation batch (``8 * 8 * C1 * images``) and the kernel ``3 * 3 * C1 * C2``.
    """
    c1, c2 = args.channels
    batch = min(args.batch_size, N_IMAGES)
    estimates = {
        "the second conv layer's Jacobian": 12 * 16 * c2 * batch * 9 * c1,
        "the first layer's activations": 8 * 64 * c1 * max(batch, 512),
        "the second kernel": 8 * 9 * c1 * c2,
    }
    what, estimate = max(estimates.items(), key=lambda item: item[1])
    refuse_over(estimate, args.max_bytes,
                f"{what} (--channels {c1} {c2}, --batch-size {args.batch_size})",
                "--max-bytes", unit="bytes")


def _plot_path(plot, supported):
    """Where ``--plot`` writes: ``PLOT_NAME`` inside an existing folder, else the path itself.

    A path without an extension gets ``.png`` (as matplotlib would add silently); an
    extension matplotlib cannot write is refused before training.
    """
    if os.path.isdir(plot):
        path = os.path.join(plot, PLOT_NAME)
    else:
        path = plot if os.path.splitext(plot)[1] else plot + ".png"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--plot: the folder {folder} of {plot!r} does not exist")
    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in supported:
        raise InvalidValueError(f"--plot must end in one of .{', .'.join(sorted(supported))} "
                                f"(the formats matplotlib writes), got {plot!r}")
    return path


class Progress:
    """One line per epoch; on a terminal it is redrawn in place after every step."""

    def __init__(self, epochs, stream):
        self.epochs, self.stream = epochs, stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self._reset()

    def _reset(self):
        self.seen, self.loss_sum, self.correct, self.drawn = 0, 0.0, 0.0, 0

    def step(self, batch):
        n = batch.labels.size
        self.seen += n
        self.loss_sum += batch.loss * n
        self.correct += batch.accuracy * n
        if self.live:
            head = self._bar(batch.epoch, batch.index + 1, batch.n_batches)
            line = (f"{head}  loss {self.loss_sum / self.seen:.4f}  "
                    f"acc {100 * self.correct / self.seen:5.1f}%")
            self.stream.write("\r" + line)
            self.stream.flush()
            self.drawn = len(line)

    def epoch(self, record, n_batches):
        if record.epoch == 0:
            line = f"{'before training':<{len(self._bar(1, 0, 1))}}"
        else:
            line = self._bar(record.epoch, n_batches, n_batches)
        line += (f"  train loss {record.train_loss:.4f} acc {100 * record.train_accuracy:5.1f}%"
                 f"  | test loss {record.test_loss:.4f} acc {100 * record.test_accuracy:5.1f}%")
        if record.epoch:
            line += f"  {record.seconds:4.1f}s"
        # Plain carriage return: overwrite the live line, padding if it was longer.
        self.stream.write(("\r" if self.drawn else "") + line.ljust(self.drawn) + "\n")
        self.stream.flush()
        self._reset()

    def interrupt(self):
        if self.drawn:
            self.stream.write("\n")

    def _bar(self, epoch, done, total):
        filled = BAR_WIDTH * done // max(total, 1)
        width = len(str(self.epochs))
        return (f"epoch {epoch:>{width}}/{self.epochs} |{'#' * filled}{'.' * (BAR_WIDTH - filled)}| "
                f"{done:>{len(str(total))}}/{total}")


def run(args, stream=None):
    stream = sys.stdout if stream is None else stream
    _check_args(args)
    if args.plot:
        import matplotlib  # fail before training, not after, if matplotlib is missing

        from jacobian_cnn import plots
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        plot_path = _plot_path(args.plot, Figure().canvas.get_supported_filetypes())
    if args.check_torch and importlib.util.find_spec("torch") is None:
        raise ImportError("--check-torch needs torch: pip install torch (the CPU build: "
                          "pip install torch --index-url https://download.pytorch.org/whl/cpu)")
    data = training.load_digits(test_fraction=args.test_fraction, seed=args.seed)
    net = training.digits_cnn(args.seed, channels=args.channels)
    n_train, n_test = data.y_train.size, data.y_test.size
    print(f"the seed's 3-layer CNN on scikit-learn's 8x8 digits: {n_train} training and "
          f"{n_test} test images", file=stream)
    print(net, file=stream)
    rate = f"{args.learning_rate:g}" + (f" / (1 + {args.decay:g} (epoch - 1))" if args.decay else "")
    print(f"mini-batch gradient descent: {args.batch_size} images per step as one "
          f"(8, 8, 1, {args.batch_size}) array, learning rate {rate}\n", file=stream)

    progress = Progress(args.epochs, stream)
    deviations, products = [], []
    n_batches = -(-n_train // args.batch_size)

    def on_step(net, batch):
        if not products:
            products.append(len(batch.grads.trace))
        if args.check_torch:
            deviations.append(training.gradient_deviation(
                batch.grads, training.torch_gradients(net, batch.x, batch.labels)))
        progress.step(batch)

    start = time.perf_counter()
    try:
        history = training.train(net, data, epochs=args.epochs, batch_size=args.batch_size,
                                 learning_rate=args.learning_rate, decay=args.decay, seed=args.seed,
                                 on_step=on_step,
                                 on_epoch=lambda net, record: progress.epoch(record, n_batches))
    except KeyboardInterrupt:
        progress.interrupt()
        raise
    seconds = time.perf_counter() - start
    failed = _summary(args, history, seconds, n_test, len(net), products[0], deviations, stream)
    if args.plot:
        plots.plot_history(history).savefig(plot_path, dpi=120)
        print(f"loss and accuracy curves saved to {plot_path}", file=stream)
    return 1 if failed else 0


def _summary(args, history, seconds, n_test, n_layers, n_products, deviations, stream):
    """Print the closing lines; return the names of the requested checks that failed."""
    final, steps = history.final, len(history.step_loss)
    epochs = f"{args.epochs} epoch" + ("s" if args.epochs > 1 else "")
    print(f"\ndone: {epochs}, {steps} gradient steps in {seconds:.1f} s "
          f"({1000 * seconds / steps:.0f} ms per step)", file=stream)
    print(f"test accuracy {100 * final.test_accuracy:.1f}% on {n_test} held-out digits "
          f"(chance 10%); training accuracy {100 * final.train_accuracy:.1f}%, "
          f"loss {final.train_loss:.4f}", file=stream)
    print(f"every gradient came from Chain.backward: g <- g @ J through {n_products} explicit "
          f"sparse Jacobians per step ({n_layers + 1} layers wrt their input, "
          f"{n_products - n_layers - 1} parameters)", file=stream)
    failed = []
    if args.check_torch:
        worst = max(deviations, key=lambda d: np.inf if np.isnan(d) else d)  # NaN is the worst
        ok = bool(np.isfinite(worst) and worst <= args.tolerance)
        verdict = "OK" if ok else "FAILED"
        print(f"torch autograd on the same weights, all {steps} steps: largest |ours - torch| = "
              f"{worst:.1e} ({verdict}, tolerance {args.tolerance:.0e})", file=stream)
        if not ok:
            failed.append("torch")
    if args.min_accuracy is not None and final.test_accuracy < args.min_accuracy:
        print(f"FAILED: test accuracy {100 * final.test_accuracy:.1f}% is below --min-accuracy "
              f"{100 * args.min_accuracy:.1f}%", file=stream)
        failed.append("accuracy")
    return failed
