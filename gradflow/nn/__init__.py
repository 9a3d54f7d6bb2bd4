"""gradflow.nn: Module, Parameter, layers, losses, init and the functional forms.

Example:
    >>> import gradflow as gf
    >>> from gradflow import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> loss = nn.CrossEntropyLoss()(model(gf.randn(5, 4)), gf.tensor([0, 2, 1, 1, 0]))
    >>> loss.backward()
"""

from gradflow.nn.module import Module, Parameter, RemovableHandle  # noqa: I001  (first)
from gradflow.nn import functional, init, utils
from gradflow.nn.containers import ModuleDict, ModuleList, Sequential
from gradflow.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from gradflow.nn.layers import (
    GELU, BatchNorm1d, BatchNorm2d, Dropout, Embedding, Flatten, Identity, LayerNorm, LeakyReLU,
    Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh,
)
from gradflow.nn.losses import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from gradflow.nn import parallel
from gradflow.nn.parallel import SyncBatchNorm
from gradflow.nn.activation import (
    CELU, ELU, GLU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, SELU,
    SiLU, Softmin, Softplus, Softsign, Tanhshrink, Threshold,
)
from gradflow.nn.attention import (
    MultiheadAttention,
)
from gradflow.nn.conv_extra import (
    Conv1d, ConvTranspose1d, ConvTranspose2d,
)
from gradflow.nn.losses_extra import (
    CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss,
    MarginRankingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss,
    SoftMarginLoss, TripletMarginLoss,
)
from gradflow.nn.normalization import (
    Dropout1d, Dropout2d, Dropout3d, GroupNorm, InstanceNorm1d, InstanceNorm2d,
)
from gradflow.nn.pooling import (
    AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, MaxPool1d,
    MaxUnpool1d, MaxUnpool2d,
)
from gradflow.nn.rnn import (
    GRU, GRUCell, LSTM, LSTMCell, RNN, RNNCell,
)
from gradflow.nn.transformer import (
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
from gradflow.nn.vision import (
    CosineSimilarity, Fold, PairwiseDistance, PixelShuffle, PixelUnshuffle, Unfold,
    Upsample, UpsamplingBilinear2d, UpsamplingNearest2d,
)

__all__ = [
    "GELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "RemovableHandle",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "SyncBatchNorm",
    "Tanh",
    "functional",
    "init",
    "parallel",
    "summary",
    "utils",
]
__all__ += [
    'CELU',
    'ELU',
    'GLU',
    'GRU',
    'LSTM',
    'RNN',
    'SELU',
    'AdaptiveAvgPool1d',
    'AdaptiveMaxPool1d',
    'AdaptiveMaxPool2d',
    'AvgPool1d',
    'Conv1d',
    'ConvTranspose1d',
    'ConvTranspose2d',
    'CosineEmbeddingLoss',
    'CosineSimilarity',
    'Dropout1d',
    'Dropout2d',
    'Dropout3d',
    'Fold',
    'GRUCell',
    'GaussianNLLLoss',
    'GroupNorm',
    'Hardsigmoid',
    'Hardswish',
    'Hardtanh',
    'HingeEmbeddingLoss',
    'HuberLoss',
    'InstanceNorm1d',
    'InstanceNorm2d',
    'KLDivLoss',
    'LSTMCell',
    'LogSigmoid',
    'MarginRankingLoss',
    'MaxPool1d',
    'MaxUnpool1d',
    'MaxUnpool2d',
    'Mish',
    'MultiLabelSoftMarginLoss',
    'MultiMarginLoss',
    'MultiheadAttention',
    'PReLU',
    'PairwiseDistance',
    'PixelShuffle',
    'PixelUnshuffle',
    'PoissonNLLLoss',
    'RNNCell',
    'ReLU6',
    'SiLU',
    'SoftMarginLoss',
    'Softmin',
    'Softplus',
    'Softsign',
    'Tanhshrink',
    'Threshold',
    'Transformer',
    'TransformerDecoder',
    'TransformerDecoderLayer',
    'TransformerEncoder',
    'TransformerEncoderLayer',
    'TripletMarginLoss',
    'Unfold',
    'Upsample',
    'UpsamplingBilinear2d',
    'UpsamplingNearest2d',
]
from gradflow.nn.summary import summary  # noqa: E402  (gf.nn.summary)
