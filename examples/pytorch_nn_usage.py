"""issue 14's nn items used the way PyTorch's documentation shows them, under
`import gradflow as torch`. Each section is the documentation's example (sizes made
small) plus a check of what the documentation says the result is.

Run: python examples/pytorch_nn_usage.py   (prints one "ok" line per item)
"""

from __future__ import annotations

import math

import gradflow as torch
import gradflow.nn.functional as F
from gradflow import nn

SECTIONS = []


def random_signs(*shape):
    """1 or -1 at random (PyTorch's docs write torch.randn(*shape).sign())."""
    return (torch.randn(*shape) > 0).to(torch.float32) * 2.0 - 1.0


def section(fn):
    SECTIONS.append(fn)
    return fn


@section
def activations():
    for m in (nn.SiLU(), nn.ELU(), nn.CELU(), nn.SELU(), nn.Softplus(), nn.Softsign(),
              nn.Hardtanh(-2, 2), nn.ReLU6(), nn.Hardsigmoid(), nn.Hardswish(), nn.Mish(),
              nn.LogSigmoid(), nn.Tanhshrink(), nn.Threshold(0.1, 20), nn.PReLU()):
        input = torch.randn(2)
        output = m(input)
        assert output.shape == (2,)
    m = nn.Softmin(dim=1)
    assert torch.allclose(m(torch.randn(2, 3)).sum(1), torch.ones(2))
    m = nn.GLU()
    assert m(torch.randn(4, 2)).shape == (4, 1)
    m = nn.PReLU(num_parameters=3)
    assert m(torch.randn(2, 3, 4)).shape == (2, 3, 4)
    x = torch.randn(5)
    for name in ("silu", "elu", "celu", "selu", "softplus", "softsign", "hardtanh", "relu6",
                 "hardsigmoid", "hardswish", "mish", "logsigmoid", "tanhshrink"):
        assert getattr(F, name)(x).shape == (5,)
    assert F.softmin(x, dim=0).shape == (5,) and F.glu(torch.randn(4, 6)).shape == (4, 3)
    assert F.threshold(x, 0.1, 20.0).shape == (5,)
    assert F.prelu(x, torch.tensor([0.25])).shape == (5,)


@section
def distances():
    input1, input2 = torch.randn(10, 16), torch.randn(10, 16)
    output = F.cosine_similarity(input1, input2)
    assert output.shape == (10,) and bool((output.abs() <= 1.0 + 1e-6).all())
    cos = nn.CosineSimilarity(dim=1, eps=1e-6)
    assert torch.allclose(cos(input1, input2), output, atol=1e-6)
    pdist = nn.PairwiseDistance(p=2)
    assert pdist(input1, input2).shape == (10,)
    unit = F.normalize(input1, p=2.0, dim=1)
    assert torch.allclose((unit * unit).sum(1), torch.ones(10), atol=1e-5)


@section
def pixel_shuffle():
    pixel_shuffle = nn.PixelShuffle(3)
    input = torch.randn(1, 9, 4, 4)
    output = pixel_shuffle(input)
    assert output.size() == (1, 1, 12, 12)
    pixel_unshuffle = nn.PixelUnshuffle(3)
    assert bool((pixel_unshuffle(output) == input).all())


@section
def interpolate_and_upsample():
    input = torch.arange(1, 5, dtype=torch.float32).view(1, 1, 2, 2)
    m = nn.Upsample(scale_factor=2, mode="nearest")
    assert m(input).tolist() == [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0],
                                    [3.0, 3.0, 4.0, 4.0], [3.0, 3.0, 4.0, 4.0]]]]
    m = nn.Upsample(scale_factor=2, mode="bilinear")  # align_corners=False
    assert [round(v, 4) for v in m(input).tolist()[0][0][0]] == [1.0, 1.25, 1.75, 2.0]
    m = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    assert [round(v, 4) for v in m(input).tolist()[0][0][0]] == [1.0, 1.3333, 1.6667, 2.0]
    assert F.interpolate(input, size=(3, 5)).shape == (1, 1, 3, 5)


@section
def fold_unfold():
    fold = nn.Fold(output_size=(4, 5), kernel_size=(2, 2))
    input = torch.randn(1, 3 * 2 * 2, 12)
    assert fold(input).size() == (1, 3, 4, 5)
    unfold = nn.Unfold(kernel_size=(2, 3))
    input = torch.randn(2, 5, 3, 4)
    assert unfold(input).size() == (2, 30, 4)
    # Convolution is equivalent with Unfold + Matrix Multiplication + Fold (or view to output)
    inp = torch.randn(1, 3, 10, 12)
    w = torch.randn(2, 3, 4, 5)
    inp_unf = F.unfold(inp, (4, 5))
    out_unf = inp_unf.transpose(1, 2).matmul(w.view(w.size(0), -1).transpose(0, 1)).transpose(1, 2)
    out = F.fold(out_unf, (7, 8), (1, 1))
    assert (F.conv2d(inp, w) - out).abs().max().item() < 1e-4


@section
def scaled_dot_product_attention():
    query, key, value = torch.rand(2, 4, 6, 8), torch.rand(2, 4, 6, 8), torch.rand(2, 4, 6, 8)
    out = F.scaled_dot_product_attention(query, key, value, is_causal=True)
    assert out.shape == (2, 4, 6, 8)
    mask = torch.ones(6, 6, dtype=torch.bool)
    assert F.scaled_dot_product_attention(query, key, value, attn_mask=mask).shape == out.shape


@section
def convolution():
    m = nn.Conv1d(16, 33, 3, stride=2)
    input = torch.randn(4, 16, 20)
    assert m(input).shape == (4, 33, 9)
    m = nn.ConvTranspose1d(16, 33, 3, stride=2)
    assert m(input).shape == (4, 33, 41)
    m = nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
    input = torch.randn(2, 16, 10, 12)
    assert m(input).shape == (2, 33, 13, 12)
    # exact output size can be also specified as an argument
    input = torch.randn(1, 16, 12, 12)
    downsample = nn.Conv2d(16, 16, 3, stride=2, padding=1)
    upsample = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
    h = downsample(input)
    assert h.size() == (1, 16, 6, 6)
    output = upsample(h, output_size=input.size())
    assert output.size() == (1, 16, 12, 12)
    assert F.conv1d(torch.randn(3, 4, 7), torch.randn(2, 4, 3)).shape == (3, 2, 5)
    assert F.conv_transpose1d(torch.randn(3, 4, 7), torch.randn(4, 2, 3)).shape == (3, 2, 9)
    assert F.conv_transpose2d(torch.randn(1, 4, 5, 5), torch.randn(4, 8, 3, 3),
                              padding=1).shape == (1, 8, 5, 5)


@section
def pooling():
    m = nn.MaxPool1d(3, stride=2)
    input = torch.randn(4, 16, 20)
    assert m(input).shape == (4, 16, 9)
    m = nn.AvgPool1d(3, stride=2)
    assert m(torch.tensor([[[1.0, 2, 3, 4, 5, 6, 7]]])).tolist() == [[[2.0, 4.0, 6.0]]]
    m = nn.AdaptiveMaxPool2d((5, 7))
    assert m(torch.randn(1, 64, 8, 9)).shape == (1, 64, 5, 7)
    m = nn.AdaptiveMaxPool2d((None, 7))
    assert m(torch.randn(1, 64, 10, 9)).shape == (1, 64, 10, 7)
    m = nn.AdaptiveAvgPool1d(5)
    assert m(torch.randn(1, 64, 8)).shape == (1, 64, 5)
    assert F.max_pool1d(input, 2).shape == F.avg_pool1d(input, 2).shape == (4, 16, 10)


@section
def max_unpool():
    pool = nn.MaxPool2d(2, stride=2, return_indices=True)
    unpool = nn.MaxUnpool2d(2, stride=2)
    input = torch.tensor([[[[1.0, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]])
    output, indices = pool(input)
    assert unpool(output, indices).tolist() == [[[[0.0, 0, 0, 0], [0, 6, 0, 8], [0, 0, 0, 0],
                                                   [0, 14, 0, 16]]]]
    # Now using output_size to resolve an ambiguous size for the inverse
    input = torch.arange(1.0, 26.0).view(1, 1, 5, 5)
    output, indices = pool(input)
    assert unpool(output, indices, output_size=(1, 1, 5, 5)).shape == (1, 1, 5, 5)


@section
def normalization():
    input = torch.randn(4, 6, 5, 5)
    for m in (nn.GroupNorm(3, 6), nn.GroupNorm(6, 6), nn.GroupNorm(1, 6)):
        assert m(input).shape == input.shape
    m = nn.InstanceNorm1d(10)
    assert m(torch.randn(4, 10, 8)).shape == (4, 10, 8)
    m = nn.InstanceNorm2d(10, affine=True)
    assert m(torch.randn(4, 10, 6, 6)).shape == (4, 10, 6, 6)
    embedding_dim = 10
    embedding = torch.randn(4, 5, embedding_dim)
    layer_norm = nn.LayerNorm(embedding_dim, elementwise_affine=False)
    assert layer_norm(embedding).mean(-1).abs().max().item() < 1e-5
    assert nn.LayerNorm(embedding_dim, bias=False).bias is None
    m = nn.BatchNorm1d(10, momentum=None)  # a cumulative moving average
    for _ in range(3):
        m(torch.randn(8, 10))
    assert m.num_batches_tracked.item() == 3


@section
def dropout():
    m = nn.Dropout1d(p=0.2)
    assert m(torch.randn(4, 16, 32)).shape == (4, 16, 32)
    m = nn.Dropout2d(p=0.2)
    assert m(torch.randn(4, 16, 8, 8)).shape == (4, 16, 8, 8)
    assert F.dropout1d(torch.ones(2, 3, 4), 0.5, training=False).tolist() == \
        torch.ones(2, 3, 4).tolist()


@section
def recurrent():
    rnn = nn.RNN(10, 20, 2)
    input = torch.randn(5, 3, 10)
    h0 = torch.randn(2, 3, 20)
    output, hn = rnn(input, h0)
    assert output.shape == (5, 3, 20) and hn.shape == (2, 3, 20)
    rnn = nn.LSTM(10, 20, 2)
    c0 = torch.randn(2, 3, 20)
    output, (hn, cn) = rnn(input, (h0, c0))
    assert cn.shape == (2, 3, 20)
    rnn = nn.GRU(10, 20, 2, batch_first=True, bidirectional=True, dropout=0.1)
    output, hn = rnn(input)
    assert output.shape == (5, 3, 40) and hn.shape == (4, 5, 20)
    rnn = nn.RNNCell(10, 20)
    input = torch.randn(6, 3, 10)
    hx = torch.randn(3, 20)
    output = []
    for i in range(6):
        hx = rnn(input[i], hx)
        output.append(hx)
    rnn = nn.LSTMCell(10, 20)
    hx, cx = torch.randn(3, 20), torch.randn(3, 20)
    output = []
    for i in range(input.size()[0]):
        hx, cx = rnn(input[i], (hx, cx))
        output.append(hx)
    output = torch.stack(output, dim=0)
    assert output.shape == (6, 3, 20)
    rnn = nn.GRUCell(10, 20)
    assert rnn(input[0], hx).shape == (3, 20)


@section
def multihead_attention():
    embed_dim, num_heads = 16, 4
    multihead_attn = nn.MultiheadAttention(embed_dim, num_heads)
    query, key, value = torch.randn(5, 2, 16), torch.randn(7, 2, 16), torch.randn(7, 2, 16)
    attn_output, attn_output_weights = multihead_attn(query, key, value)
    assert attn_output.shape == (5, 2, 16) and attn_output_weights.shape == (2, 5, 7)
    padding = torch.tensor([[False] * 6 + [True], [False] * 7])
    attn_output, _ = multihead_attn(query, key, value, key_padding_mask=padding,
                                    need_weights=False)
    batch_first = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
    future = torch.arange(5).view(5, 1) < torch.arange(5).view(1, 5)  # True: may not attend
    x = torch.randn(2, 5, 16)
    out, weights = batch_first(x, x, x, attn_mask=future)
    assert out.shape == (2, 5, 16) and weights[0, 0, 1:].abs().max().item() == 0.0


@section
def losses():
    kl_loss = nn.KLDivLoss(reduction="batchmean")
    input = F.log_softmax(torch.randn(3, 5, requires_grad=True), dim=1)
    target = F.softmax(torch.rand(3, 5), dim=1)
    kl_loss(input, target).backward()
    log_target = F.log_softmax(torch.rand(3, 5), dim=1)
    nn.KLDivLoss(reduction="batchmean", log_target=True)(input, log_target)
    for loss in (nn.HuberLoss(), nn.SoftMarginLoss()):
        input = torch.randn(3, 5, requires_grad=True)
        loss(input, random_signs(3, 5)).backward()
    loss = nn.PoissonNLLLoss()
    log_input = torch.randn(5, 2, requires_grad=True)
    loss(log_input, torch.randn(5, 2)).backward()
    loss = nn.GaussianNLLLoss()
    input = torch.randn(5, 2, requires_grad=True)
    target = torch.randn(5, 2)
    var = torch.ones(5, 2, requires_grad=True)  # heteroscedastic
    loss(input, target, var).backward()
    var = torch.ones(5, 1, requires_grad=True)  # homoscedastic
    loss(input, target, var).backward()
    loss = nn.MarginRankingLoss()
    input1, input2 = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    target = random_signs(3)
    loss(input1, input2, target).backward()
    nn.HingeEmbeddingLoss()(torch.randn(3, 4, requires_grad=True), random_signs(3, 4))
    nn.CosineEmbeddingLoss()(torch.randn(3, 4), torch.randn(3, 4), random_signs(3))
    triplet_loss = nn.TripletMarginLoss(margin=1.0, p=2, eps=1e-7)
    anchor = torch.randn(10, 8, requires_grad=True)
    positive, negative = torch.randn(10, 8), torch.randn(10, 8)
    triplet_loss(anchor, positive, negative).backward()
    loss = nn.MultiMarginLoss()
    x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    y = torch.tensor([3])
    # 0.25 * ((1-(0.8-0.1)) + (1-(0.8-0.2)) + (1-(0.8-0.4)))
    assert math.isclose(loss(x, y).item(), 0.325, rel_tol=1e-6)
    labels = torch.randint(0, 2, (3, 4)).to(torch.float32)
    nn.MultiLabelSoftMarginLoss()(torch.randn(3, 4), labels)
    for name in ("kl_div", "huber_loss", "poisson_nll_loss", "margin_ranking_loss",
                 "hinge_embedding_loss", "cosine_embedding_loss", "triplet_margin_loss",
                 "multi_margin_loss", "multilabel_soft_margin_loss", "soft_margin_loss",
                 "gaussian_nll_loss"):
        assert callable(getattr(F, name))


@section
def module_features():
    @torch.no_grad()
    def init_weights(m):
        if type(m) is nn.Linear:
            m.weight.fill_(1.0)

    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net.apply(init_weights)
    assert net[1].weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, shared)
    assert [name for name, _ in net.named_modules()] == ["", "0"]
    assert [name for name, _ in net.named_children()] == ["0"]
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4))
    assert [name for name, _ in model.named_buffers()] == [
        "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert model.get_submodule("1") is model[1]
    model.requires_grad_(False)
    model.to(torch.float64).float()
    model.double()
    model.half()
    model.float()
    assert "Conv1d(2, 4, kernel_size=(3,), stride=(1,))" in repr(model)
    grads = []
    layer = nn.Linear(3, 1)
    layer.register_full_backward_hook(lambda module, grad_input, grad_output:
                                      grads.append(grad_output[0].shape))
    layer.register_forward_hook(lambda module, args, kwargs, output: None, with_kwargs=True)
    layer(torch.randn(4, 3, requires_grad=True)).sum().backward()
    assert grads == [(4, 1)]
    result = nn.Linear(3, 1).load_state_dict({"weight": torch.zeros(1, 3)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == []


def main() -> int:
    torch.manual_seed(0)
    for run in SECTIONS:
        run()
        print(f"ok {run.__name__}")
    print(f"all {len(SECTIONS)} sections ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
