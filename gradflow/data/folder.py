"""ImageFolder: the folder-per-class layout (root/cat/001.png, root/dog/xyz.jpg ...)."""

from __future__ import annotations

import os
from pathlib import Path

from gradflow.data.loader import Dataset
from gradflow.data.transforms import ToTensor
from gradflow.errors import BackendUnavailableError, DatasetError, DatasetNotFoundError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        raise BackendUnavailableError(
            "ImageFolder decodes images with Pillow, which is not installed: install gradflow's "
            "optional `images` extra from your gradflow checkout (pip install -e '.[images]'), "
            "or Pillow itself (pip install pillow)") from None
    return Image


def pil_loader(path: str | os.PathLike):
    """Open an image file as an RGB PIL image (decoded now, the file closed)."""
    image_module = _pil_image()
    try:
        with image_module.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's UnidentifiedImageError is OSError
        raise DatasetError(f"{path}: not a readable image ({exc})") from None


class ImageFolder(Dataset):
    """Images in one sub-folder per class, as torchvision's ImageFolder.

    Classes are the sub-folder names, sorted (class_to_idx maps them to labels); the
    samples are every file with an image extension below each, in sorted order. An item
    is (image, label): the image a float32 (3, H, W) tensor in [0, 1], passed through
    `transform` (e.g. RandomResizedCrop, Normalize) when given.

    Args:
        root: the folder of class folders.
        transform: applied to each image tensor.
        target_transform: applied to each label.
        loader: path -> image (default: Pillow, RGB).
        is_valid_file: path -> bool, instead of the extension check.
        extensions: file name endings counted as images.

    Example:
        >>> from PIL import Image
        >>> from gradflow.data.transforms import RandomResizedCrop
        >>> for label in ("cat", "dog"):
        ...     os.makedirs(f"photos/train/{label}", exist_ok=True)
        ...     Image.new("RGB", (12, 10)).save(f"photos/train/{label}/0.png")
        >>> train = ImageFolder("photos/train", transform=RandomResizedCrop(8))
        >>> train.class_to_idx, train[1][0].shape, train[1][1]
        ({'cat': 0, 'dog': 1}, (3, 8, 8), 1)
    """

    def __init__(self, root, transform=None, target_transform=None, loader=None,
                 is_valid_file=None, extensions=IMG_EXTENSIONS):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"ImageFolder: {self.root} is not a folder")
        if loader is None:
            _pil_image()  # fail now, naming the extra, rather than at the first item
        self.loader = loader or pil_loader
        self.transform, self.target_transform = transform, target_transform
        self.classes = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        valid = is_valid_file or (lambda path: str(path).lower().endswith(tuple(extensions)))
        self.samples = []
        for name in self.classes:
            for folder, subfolders, files in sorted(os.walk(self.root / name, followlinks=True)):
                subfolders.sort()
                for file in sorted(files):
                    path = os.path.join(folder, file)
                    if valid(path):
                        self.samples.append((path, self.class_to_idx[name]))
        if not self.samples:
            raise DatasetNotFoundError(f"ImageFolder: no images ({', '.join(extensions)}) in "
                                       f"class folders under {self.root}")
        self.targets = [label for _, label in self.samples]
        self._to_tensor = ToTensor()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        image = self._to_tensor(self.loader(path))
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label
