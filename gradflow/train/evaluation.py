"""evaluate: loss, accuracy and confusion matrix of a classifier over a loader, and the sums
fit adds up over the ranks under data parallelism (padding of a DistributedSampler left
out)."""

from __future__ import annotations

import gradflow as gf


def _accuracy_counts(logits, labels) -> int:
    return int((logits.argmax(dim=1) == labels).sum().item())


def evaluate(model, loader, loss_fn=None, num_classes: int | None = None) -> dict:
    """Loss, accuracy and confusion matrix of a classifier over a loader, without gradients.

    Over a loader whose sampler is a DistributedSampler, the samples it repeats to pad the
    ranks' shares to equal length are left out, so each sample counts once over the ranks
    (the numbers are still this rank's: fit() sums them over the ranks).

    Returns:
        {"loss": float or None, "accuracy": float, "confusion": list of lists (true x predicted)}

    Example:
        >>> model = nn.Linear(2, 2)
        >>> with gf.no_grad():
        ...     _ = model.weight.copy_(gf.eye(2)), model.bias.zero_()  # picks the larger input
        >>> x, y = gf.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]), gf.tensor([0, 1, 1])
        >>> result = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=2))
        >>> round(result["accuracy"], 3), result["confusion"]
        (0.667, [[1, 0], [1, 1]])
    """
    predictions, truths = [], []
    sums = _evaluation_sums(model, loader, loss_fn, predictions, truths)
    classes = num_classes or (max(truths + predictions) + 1 if truths else 0)
    confusion = [[0] * classes for _ in range(classes)]
    for t, p in zip(truths, predictions):
        confusion[t][p] += 1
    return {"loss": sums.loss if loss_fn is not None and sums.seen else None,
            "accuracy": sums.accuracy,
            "confusion": confusion}


class _Sums:
    """Summed loss (loss x samples), correct predictions and samples: what ranks add up."""

    def __init__(self, loss_sum: float = 0.0, correct: int = 0, seen: int = 0):
        self.loss_sum, self.correct, self.seen = loss_sum, correct, seen

    @property
    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else 0.0


def _evaluation_sums(model, loader, loss_fn, predictions=None, truths=None) -> _Sums:
    """evaluate()'s pass over the loader, padded samples left out; appends to the lists."""
    was_training = model.training
    model.eval()
    sums = _Sums()
    remaining = _real_samples(loader)
    with gf.no_grad():
        for images, labels in loader:
            count = labels.shape[0] if remaining is None else min(labels.shape[0], remaining)
            if count == 0:
                break
            if count < labels.shape[0]:  # the tail of the last batches repeats samples
                images, labels = images[:count], labels[:count]
            logits = model(images)
            if remaining is not None:
                remaining -= count
            if loss_fn is not None:
                sums.loss_sum += float(loss_fn(logits, labels).item()) * count
            predicted = logits.argmax(dim=1)
            sums.correct += int((predicted == labels).sum().item())
            sums.seen += count
            if predictions is not None:
                predictions += predicted.tolist()
                truths += labels.tolist()
    model.train(was_training)
    return sums


def _real_samples(loader) -> int | None:
    """How many of this rank's samples are not padding, for a DistributedSampler's loader.

    Without drop_last the sampler pads the permutation to a multiple of the world size with
    its own start; rank r takes positions r, r + N, ..., so its padded samples are the last
    ones it yields: those at positions >= len(dataset).
    """
    from gradflow.data import DistributedSampler

    sampler = getattr(loader, "sampler", None)
    if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
        return None
    real = range(sampler.rank, len(sampler.dataset), sampler.num_replicas)
    return min(len(real), sampler.num_samples)
