#!/usr/bin/python3
"""Reads a run's TensorBoard event file back with Python's protobuf package (Debian's python3-protobuf),
independently of elbo's writer, and checks it:

  check_tfevents.py RUN_DIR [--epochs N]

- every record's length and data CRC-32C (masked, computed here in Python) match;
- every record parses as TensorBoard's Event message (declared below from event.proto and summary.proto);
- the first event is the file version; no (tag, step) appears twice (a resumed run must not repeat steps);
- the per-epoch test figure equals metrics.jsonl's, epoch by epoch; the images are PNGs of the stated size;
  the histograms' bucket counts add up to their number of values.
Exits 1 with a message on the first failure.
"""
import glob
import json
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def declare():
    fd = descriptor_pb2.FileDescriptorProto(name="tb_check.proto", package="tb_check", syntax="proto3")

    def message(name, fields):
        m = fd.message_type.add(name=name)
        for number, fname, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label or F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = type_name
        return m

    message("HistogramProto", [(1, "min", F.TYPE_DOUBLE, None, None), (2, "max", F.TYPE_DOUBLE, None, None),
                               (3, "num", F.TYPE_DOUBLE, None, None), (4, "sum", F.TYPE_DOUBLE, None, None),
                               (5, "sum_squares", F.TYPE_DOUBLE, None, None),
                               (6, "bucket_limit", F.TYPE_DOUBLE, F.LABEL_REPEATED, None),
                               (7, "bucket", F.TYPE_DOUBLE, F.LABEL_REPEATED, None)])
    message("Image", [(1, "height", F.TYPE_INT32, None, None), (2, "width", F.TYPE_INT32, None, None),
                      (3, "colorspace", F.TYPE_INT32, None, None), (4, "encoded_image_string", F.TYPE_BYTES, None, None)])
    message("Value", [(1, "tag", F.TYPE_STRING, None, None), (2, "simple_value", F.TYPE_FLOAT, None, None),
                      (4, "image", F.TYPE_MESSAGE, None, ".tb_check.Image"),
                      (5, "histo", F.TYPE_MESSAGE, None, ".tb_check.HistogramProto")])
    message("Summary", [(1, "value", F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tb_check.Value")])
    message("Event", [(1, "wall_time", F.TYPE_DOUBLE, None, None), (2, "step", F.TYPE_INT64, None, None),
                      (3, "file_version", F.TYPE_STRING, None, None),
                      (5, "summary", F.TYPE_MESSAGE, None, ".tb_check.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tb_check.Event"))


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fail(msg):
    print(f"check_tfevents: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    run = sys.argv[1]
    files = sorted(glob.glob(os.path.join(run, "events.out.tfevents.*")))
    if len(files) != 1:
        fail(f"expected one event file in {run}, found {files}")
    data = open(files[0], "rb").read()
    Event = declare()
    events, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<Q", data, at)
        (c1,) = struct.unpack_from("<I", data, at + 8)
        if c1 != masked(crc32c(data[at:at + 8])):
            fail(f"bad length CRC at byte {at}")
        body = data[at + 12:at + 12 + n]
        (c2,) = struct.unpack_from("<I", data, at + 12 + n)
        if c2 != masked(crc32c(body)):
            fail(f"bad data CRC at byte {at}")
        e = Event()
        e.ParseFromString(body)
        events.append(e)
        at += 16 + n
    if not events or events[0].file_version != "brain.Event:2":
        fail("the first event is not the file version")
    seen, scalars, images, histos = set(), {}, 0, 0
    for e in events[1:]:
        for v in e.summary.value:
            if (v.tag, e.step) in seen:
                fail(f"tag {v.tag} repeats step {e.step}")
            seen.add((v.tag, e.step))
            if v.HasField("image"):
                images += 1
                png = v.image.encoded_image_string
                if png[:8] != b"\x89PNG\r\n\x1a\n":
                    fail(f"image {v.tag} is not a PNG")
                w, h = struct.unpack(">II", png[16:24])
                if (w, h) != (v.image.width, v.image.height):
                    fail(f"image {v.tag}: {v.image.width}x{v.image.height} stated, {w}x{h} in the PNG")
            elif v.HasField("histo"):
                histos += 1
                if abs(sum(v.histo.bucket) - v.histo.num) > 1e-9 or len(v.histo.bucket) != len(v.histo.bucket_limit):
                    fail(f"histogram {v.tag} at step {e.step}: buckets do not add up to {v.histo.num}")
            else:
                scalars.setdefault(v.tag, []).append((e.step, v.simple_value))
    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    figure = next(k for k in metrics[0] if k.startswith("test_"))
    logged = [v for _, v in sorted(scalars.get("test/" + figure[5:], []))]
    expected = [m[figure] for m in metrics]
    if len(logged) != len(expected) or any(abs(a - b) > 1e-4 * (1 + abs(b)) for a, b in zip(logged, expected)):
        fail(f"test/{figure[5:]} per epoch {logged} differs from metrics.jsonl {expected}")
    if "--epochs" in sys.argv and len(expected) != int(sys.argv[sys.argv.index("--epochs") + 1]):
        fail(f"{len(expected)} epochs logged")
    need_histos = 2 if "VAE" in metrics[0].get("model", "") else 0  # the latent histograms are the VAE's
    if images < 2 or histos < need_histos or "train/loss" not in scalars:
        fail(f"missing summaries: {images} images, {histos} histograms, scalars {sorted(scalars)}")
    print(f"check_tfevents: {len(events)} events, {len(scalars)} scalar tags, {images} images, {histos} histograms: ok")


if __name__ == "__main__":
    main()
