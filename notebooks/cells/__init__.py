"""The cells of every notebook: one module a notebook, named after it.

Each module's ``cells()`` returns the notebook's cells in order, as ``(kind, source)`` pairs
(:mod:`._cell`). ``notebooks/build.py`` turns them into ``.ipynb`` files.
"""

from . import n01_overlapping_average_pooling
from . import n02_convolution_as_sparse_matrix
from . import n03_max_pooling_switches
from . import n04_three_layer_cnn_step_by_step
from . import n05_training_from_explicit_jacobians
from . import n06_jacobian_explorer
from . import n07_checking_published_derivations
from . import n08_resnet_block_from_pytorch
from . import n09_second_order_hessians

NOTEBOOKS = {
    "01_overlapping_average_pooling.ipynb": n01_overlapping_average_pooling.cells,
    "02_convolution_as_sparse_matrix.ipynb": n02_convolution_as_sparse_matrix.cells,
    "03_max_pooling_switches.ipynb": n03_max_pooling_switches.cells,
    "04_three_layer_cnn_step_by_step.ipynb": n04_three_layer_cnn_step_by_step.cells,
    "05_training_from_explicit_jacobians.ipynb": n05_training_from_explicit_jacobians.cells,
    "06_jacobian_explorer.ipynb": n06_jacobian_explorer.cells,
    "07_checking_published_derivations.ipynb": n07_checking_published_derivations.cells,
    "08_resnet_block_from_pytorch.ipynb": n08_resnet_block_from_pytorch.cells,
    "09_second_order_hessians.ipynb": n09_second_order_hessians.cells,
}
"""Each notebook's file name and the function that returns its cells."""
