#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (corpus/<target>/), small valid and near-valid inputs from which
libFuzzer mutates. Run from anywhere; rewrites the seeds in place, byte for byte the same each time."""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


def idx(shape, data, type_code=0x08):
    return bytes([0, 0, type_code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + bytes(data)


def idx_seeds():
    images = idx([2, 3, 3], range(0, 18 * 14, 14))
    put("idx", "labels_1d", idx([5], [0, 1, 2, 9, 7]))
    put("idx", "images_3d", images)
    put("idx", "matrix_2d", idx([3, 4], range(12)))
    put("idx", "tensor_4d", idx([1, 2, 2, 2], range(8)))
    put("idx", "images_3d.gz", gzip.compress(images, mtime=0))
    put("idx", "truncated", images[:20])
    put("idx", "float_type", idx([2], [0] * 8, type_code=0x0D))


def npy(descr, shape, raw, fortran=False, version=1):
    """A .npy file as numpy writes it: the header dict padded with spaces to a multiple of 64 bytes."""
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    pre = 10 if version == 1 else 12
    text += " " * (-(pre + len(text) + 1) % 64) + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text.encode() + raw


def npy_seeds():
    put("npy", "u8_images", npy("|u1", [2, 2, 3], bytes(range(0, 240, 20))))
    put("npy", "f32_rows", npy("<f4", [2, 3], struct.pack("<6f", 0, 0.5, 1, 0.25, 0.75, 1)))
    put("npy", "f64_v2", npy("<f8", [3], struct.pack("<3d", 0.1, 0.2, 0.3), version=2))
    put("npy", "i64_labels", npy("<i8", [4], struct.pack("<4q", 0, 9, 3, 1)))
    put("npy", "scalar", npy("<i4", [], struct.pack("<i", 7)))
    put("npy", "empty", npy("|u1", [0, 5], b""))
    put("npy", "fortran", npy("<f4", [2, 2], bytes(16), fortran=True))
    put("npy", "truncated", npy("<f4", [4, 4], bytes(20)))


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "one_f32", safetensors([("weight", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6))]))
    put("safetensors", "dtypes", safetensors([
        ("a", "F64", [2], struct.pack("<2d", 0.5, -1.0)),
        ("b", "I64", [3], struct.pack("<3q", 1, -2, 3)),
        ("empty", "F32", [0, 4], b""),
        ("scalar", "F32", [], f32(7)),
    ]))
    put("safetensors", "checkpoint", safetensors(
        [("model.fc1.weight", "F32", [2, 2], f32(1, 0, 0, 1)), ("optim.step", "I64", [], struct.pack("<q", 3))],
        {"epoch": "2", "model": "mlp VAE", "rng": "1 2 3 4 0 0", "esc\u00e9": "tab\there \"q\" \\ \u2603"}))
    put("safetensors", "bad_offsets", safetensors([("w", "F32", [2], f32(1, 2))])[:-4])
    # a file written by PyTorch (tests/nn/fixtures: a Linear-ReLU-Linear state_dict)
    shutil.copyfile(os.path.join(HERE, "../../nn/fixtures/torch_mlp.safetensors"),
                    os.path.join(HERE, "safetensors", "torch_mlp"))


def zoo_flags_seeds():
    seeds = {
        "no_args": [],
        "help": ["--help"],
        "training": ["--data", "data/mnist", "--epochs", "3", "--batch", "64", "--lr", "1e-3", "--seed", "42"],
        "equals": ["--epochs=5", "--latent=2", "--hidden=32", "--threads=1", "--iw=100", "--limit=1000"],
        "flags": ["--binarize", "threshold", "--out", "runs/x", "--resume", "--quiet"],
        "files": ["--save", "a.safetensors", "--load", "b.safetensors", "--eval-only"],
        "bad_number": ["--epochs", "many"],
        "bad_range": ["--batch", "0", "--lr", "-1"],
        "unknown": ["--no-such-flag"],
        "model": ["--arch", "conv", "--likelihood", "categorical"],
        "bad_model": ["--arch", "resnet", "--likelihood=poisson"],
    }
    for name, args in seeds.items():
        put("zoo_flags", name, b"\0".join(a.encode() for a in args))


if __name__ == "__main__":
    idx_seeds()
    npy_seeds()
    safetensors_seeds()
    zoo_flags_seeds()
