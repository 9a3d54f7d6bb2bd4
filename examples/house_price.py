"""Backpropagation by hand on a 2-2-1 network that prices houses.

What this teaches: the four steps of one training step, with every number shown.

    inputs            hidden (sigmoid)                       output (linear)
    x1 bedrooms --\\   z_j = W1[j,0] x1 + W1[j,1] x2 + b1[j]
                   >  h_j = sigmoid(z_j)                -->  yhat = W2[0,0] h1 + W2[0,1] h2 + b2
    x2 area     --/                                          (price, in 100k)

1. Forward pass: each hidden neuron's weighted sum z and activation h, then the price.
2. Error: the squared error L = (yhat - y)^2 and its derivative dL/dyhat = 2 (yhat - y).
3. Backward pass: the chain rule, written out by hand for all 9 weights and biases, next
   to the gradients gradflow's `.backward()` finds; the two agree to float64 rounding.
4. Weight update: new = old - learning_rate * gradient, for every parameter.

Then the same network is trained on all eight houses in mini-batches of four; the
script prints the loss falling and the final predictions next to the true prices, and
writes a plot of both.

Run:
    python examples/house_price.py [--epochs 400] [--lr 0.05] [--device auto] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import gradflow as gf
from gradflow import nn, optim
from gradflow.backends import get_backend
from gradflow.data import DataLoader, TensorDataset

# A small made-up housing table: bedrooms, floor area in m^2, price in thousands.
HOUSES = [
    (1, 50, 150),
    (2, 70, 210),
    (2, 85, 240),
    (3, 100, 290),
    (3, 120, 330),
    (4, 140, 390),
    (4, 160, 420),
    (5, 200, 510),
]

# Readable starting weights, so the walkthrough is the same on every machine.
START = {
    "0.weight": [[0.5, -0.3], [-0.4, 0.8]],   # W1: hidden neuron j's weights on (bedrooms, area)
    "0.bias": [0.1, -0.2],                     # b1
    "2.weight": [[1.5, 2.0]],                  # W2: the output's weights on (h1, h2)
    "2.bias": [0.5],                           # b2
}

# The nine numbers the network learns: the name used in the printout, the gradflow
# parameter that holds it, and its index there. Listed output side first, the order
# in which backpropagation reaches them.
PARAMETERS = [
    ("W2[0,0]", "2.weight", (0, 0)),
    ("W2[0,1]", "2.weight", (0, 1)),
    ("b2", "2.bias", (0,)),
    ("W1[0,0]", "0.weight", (0, 0)),
    ("W1[0,1]", "0.weight", (0, 1)),
    ("b1[0]", "0.bias", (0,)),
    ("W1[1,0]", "0.weight", (1, 0)),
    ("W1[1,1]", "0.weight", (1, 1)),
    ("b1[1]", "0.bias", (1,)),
]


def table(device: str) -> tuple[gf.Tensor, gf.Tensor]:
    """Inputs (bedrooms, area in 100 m^2) and prices (in 100k), float64."""
    x = [[float(bedrooms), area / 100.0] for bedrooms, area, _ in HOUSES]
    y = [[price / 100.0] for _, _, price in HOUSES]
    return (gf.tensor(x, dtype=gf.float64, device=device),
            gf.tensor(y, dtype=gf.float64, device=device))


def build_model(device: str) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1)).to(device, gf.float64)
    params = dict(model.named_parameters())
    with gf.no_grad():
        for name, value in START.items():
            params[name].copy_(gf.tensor(value, dtype=gf.float64, device=device))
    return model


def by_label(tensors: dict[str, gf.Tensor]) -> dict[str, float]:
    """{"W1[0,1]": value, ...} from gradflow tensors keyed by parameter name."""
    values = {name: tensor.tolist() for name, tensor in tensors.items()}
    numbers = {}
    for label, name, index in PARAMETERS:
        value = values[name]
        for i in index:
            value = value[i]
        numbers[label] = value
    return numbers


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def num(value: float) -> str:
    """A number for a printed sum: negative ones in brackets, "0.5 * (-0.3)"."""
    return f"({value:g})" if value < 0 else f"{value:g}"


def forward_by_hand(p: dict[str, float], x: tuple[float, float]) -> tuple[list, list, float]:
    """Step 1: the weighted sums z, the activations h and the prediction yhat, printed."""
    print("\n(1) Forward pass")
    z, h = [], []
    for j in range(2):
        w_bedrooms, w_area, bias = p[f"W1[{j},0]"], p[f"W1[{j},1]"], p[f"b1[{j}]"]
        z.append(w_bedrooms * x[0] + w_area * x[1] + bias)
        h.append(sigmoid(z[j]))
        print(f"  hidden {j + 1}: z{j + 1} = {num(w_bedrooms)}*{x[0]:g} + {num(w_area)}*{x[1]:g} "
              f"+ {num(bias)} = {z[j]:.6f};  h{j + 1} = sigmoid(z{j + 1}) = {h[j]:.6f}")
    yhat = p["W2[0,0]"] * h[0] + p["W2[0,1]"] * h[1] + p["b2"]
    print(f"  output:   yhat = {num(p['W2[0,0]'])}*{h[0]:.6f} + {num(p['W2[0,1]'])}*{h[1]:.6f} "
          f"+ {num(p['b2'])} = {yhat:.6f}  (predicted price {100 * yhat:.1f}k)")
    return z, h, yhat


def backward_by_hand(p: dict[str, float], x: tuple[float, float], h: list[float],
                     dl_dyhat: float) -> tuple[dict[str, float], dict[str, str]]:
    """Step 3 by hand: each gradient as a product of one factor per edge walked back.

    Returns the gradients and, for the printout, the product that gave each one.
    """
    grads, how = {"b2": dl_dyhat}, {"b2": f"dL/dyhat * 1 = {dl_dyhat:.4f}"}
    for j in range(2):
        grads[f"W2[0,{j}]"] = dl_dyhat * h[j]
        how[f"W2[0,{j}]"] = f"dL/dyhat * h{j + 1} = {dl_dyhat:.4f} * {h[j]:.4f}"
        w = p[f"W2[0,{j}]"]
        slope = h[j] * (1.0 - h[j])                  # sigmoid'(z) = h (1 - h)
        dl_dz = dl_dyhat * w * slope
        path = f"dL/dyhat * W2[0,{j}] * h{j + 1}(1-h{j + 1})"
        numbers = f"{dl_dyhat:.4f} * {w:g} * {slope:.4f}"
        grads[f"b1[{j}]"] = dl_dz
        how[f"b1[{j}]"] = f"{path} = {numbers}"
        for k, name in enumerate(("bedrooms", "area")):
            grads[f"W1[{j},{k}]"] = dl_dz * x[k]
            how[f"W1[{j},{k}]"] = f"{path} * x_{name} = {numbers} * {x[k]:g}"
    return grads, how


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"house_price: {message}")


def write_graph(loss: gf.Tensor, model: nn.Sequential, path: Path) -> Path:
    """The step's recorded graph: forward values and gradients on every edge (gf.viz).

    Returns the file written: `path` (.svg/.png) with Graphviz, else the DOT text beside it.
    """
    names = {"0.weight": "W1", "0.bias": "b1", "2.weight": "W2", "2.bias": "b2"}
    params = {names[name]: p for name, p in model.named_parameters()}
    return gf.viz.graph(loss, params=params, show_values=True, show_grads=True).render(path)


def walkthrough(model: nn.Sequential, x: gf.Tensor, y: gf.Tensor, index: int, lr: float,
                out: Path) -> dict:
    """One training step on house `index`, by hand and by gradflow, printed side by side."""
    inputs = tuple(x[index].tolist())
    target = y[index].tolist()[0]
    before = by_label(dict(model.named_parameters()))
    bedrooms, area, price = HOUSES[index]
    print(f"\n=== One house: {bedrooms} bedrooms, {area} m^2, price {price}k ===")
    print(f"inputs x = (bedrooms {inputs[0]:g}, area {inputs[1]:g} [100 m^2]), "
          f"target y = {target:g} [100k]")

    _, h, yhat = forward_by_hand(before, inputs)

    print("\n(2) Error")
    loss = (yhat - target) ** 2
    dl_dyhat = 2.0 * (yhat - target)
    print(f"  L = (yhat - y)^2 = ({yhat:.6f} - {target:g})^2 = {loss:.6f}")
    print(f"  dL/dyhat = 2 (yhat - y) = {dl_dyhat:.6f}")

    hand, how = backward_by_hand(before, inputs, h, dl_dyhat)
    model.zero_grad()
    prediction = model(x[index:index + 1])
    autograd_loss = nn.MSELoss()(prediction, y[index:index + 1])
    autograd_loss.backward(retain_graph=True)  # kept for the picture of the graph
    auto = by_label({name: p.grad for name, p in model.named_parameters()})
    graph = write_graph(autograd_loss, model, out / "house_price_graph.svg")

    print("\n(3) Backward pass: the chain rule by hand vs gradflow's .backward()")
    print(f"  gradflow's forward pass: yhat {prediction.item():.12f}, "
          f"L {autograd_loss.item():.12f}")
    print(f"  {'parameter':<9} {'by hand':>12} {'autograd':>12} {'|diff|':>9}   chain rule")
    diffs = {label: abs(hand[label] - auto[label]) for label in hand}
    for label, _, _ in PARAMETERS:
        print(f"  {label:<9} {hand[label]:>12.8f} {auto[label]:>12.8f} {diffs[label]:>9.1e}   "
              f"{how[label]}")
    max_diff = max(diffs.values())
    print(f"  largest difference: {max_diff:.2e}")
    print(f"  the graph, with each edge's value and gradient: {graph}")
    check(abs(autograd_loss.item() - loss) < 1e-12, "the forward passes disagree")
    check(max_diff < 1e-10, f"hand and autograd gradients disagree by {max_diff:.2e}")

    print(f"\n(4) Weight update: new = old - lr * gradient, lr = {lr:g}")
    optim.SGD(model.parameters(), lr=lr).step()
    after = by_label(dict(model.named_parameters()))
    print(f"  {'parameter':<9} {'old':>10} {'gradient':>11} {'new':>11}")
    for label, _, _ in PARAMETERS:
        old, grad, new = before[label], hand[label], after[label]
        check(abs(new - (old - lr * grad)) < 1e-12, f"SGD did not give {label} old - lr * grad")
        print(f"  {label:<9} {old:>10.6f} {grad:>11.6f} {new:>11.6f}"
              f"   = {old:.6f} - {lr:g} * {grad:.6f}")
    with gf.no_grad():
        loss_after = nn.MSELoss()(model(x[index:index + 1]), y[index:index + 1]).item()
    print(f"  loss on this house: {loss:.6f} before the step, {loss_after:.6f} after")
    return {"max_grad_diff": max_diff, "loss_before": loss, "loss_after": loss_after,
            "hand_grads": hand, "autograd_grads": auto, "graph": str(graph)}


def train(model: nn.Sequential, x: gf.Tensor, y: gf.Tensor, epochs: int, lr: float,
          batch_size: int, seed: int) -> list[float]:
    """Mini-batch SGD on all houses; returns the mean loss over the table after each epoch."""
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    print(f"\n=== Training on all {len(HOUSES)} houses: mini-batches of {batch_size}, "
          f"lr {lr:g}, {epochs} epochs ===")
    every = max(1, epochs // 10)
    for epoch in range(1, epochs + 1):
        for inputs, targets in loader:
            loss = loss_fn(model(inputs), targets)   # 1, 2: forward pass and error
            optimizer.zero_grad()
            loss.backward()                          # 3: backward pass
            optimizer.step()                         # 4: weight update
        with gf.no_grad():
            losses.append(loss_fn(model(x), y).item())
        if epoch == 1 or epoch % every == 0 or epoch == epochs:
            rmse = 100.0 * math.sqrt(losses[-1])
            print(f"  epoch {epoch:4d}: mean squared error {losses[-1]:.5f} "
                  f"(typical error {rmse:.1f}k)")
    return losses


def plot(losses: list[float], prices: list[float], predicted: list[float],
         out: Path) -> Path | None:
    """The loss curve and the prices, or None (said once) when matplotlib is missing."""
    from gradflow.extras import optional

    if optional("matplotlib", "no plot is written") is None:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(range(1, len(losses) + 1), losses)
    left.set(xlabel="epoch", ylabel="mean squared error [(100k)^2]", yscale="log",
             title="training loss")
    labels = [f"{bedrooms}bd\n{area}m2" for bedrooms, area, _ in HOUSES]
    positions = range(len(HOUSES))
    right.bar([i - 0.2 for i in positions], [100 * p for p in prices], 0.4, label="true")
    right.bar([i + 0.2 for i in positions], [100 * p for p in predicted], 0.4, label="predicted")
    right.set_xticks(list(positions), labels, fontsize="small")
    right.set(ylabel="price [k]", title="after training")
    right.legend()
    fig.tight_layout()
    path = out / "house_price.png"
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--house", type=int, default=4, choices=range(len(HOUSES)),
                        help="which house (row of the table) the walkthrough uses")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/house_price")
    args = parser.parse_args(argv)

    device = get_backend(args.device).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gf.manual_seed(args.seed)
    x, y = table(device)
    model = build_model(device)
    print(f"device {device}; network 2-2-1: {model}")

    step = walkthrough(model, x, y, args.house, args.lr, out)
    losses = train(model, x, y, args.epochs, args.lr, args.batch_size, args.seed)

    with gf.no_grad():
        predicted = [row[0] for row in model(x).tolist()]
    prices = [row[0] for row in y.tolist()]
    print("\n  bedrooms  area m^2  true price  predicted")
    for (bedrooms, area, price), guess in zip(HOUSES, predicted):
        print(f"  {bedrooms:8d}  {area:8d}  {price:9.0f}k  {100 * guess:8.1f}k")
    result = {**step, "first_loss": losses[0], "final_loss": losses[-1], "losses": losses,
              "predicted": predicted, "prices": prices}
    (out / "house_price.json").write_text(json.dumps(result, indent=1))
    result["plot"] = plot(losses, prices, predicted, out)
    written = [out / "house_price.json", step["graph"]] + ([result["plot"]] if result["plot"]
                                                          else [])
    print("\nwrote " + ", ".join(str(path) for path in written))
    return result


if __name__ == "__main__":
    main()
