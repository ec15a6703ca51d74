"""The operators of an .onnx graph, counted, without the onnx package (not installed here): a
minimal protobuf walk of ModelProto.graph (field 7) -> GraphProto.node (field 1) ->
NodeProto.op_type (field 4). run_bench.py uses it on the graph ONNX Runtime saves after its
optimisations, to show which fusions it made (Attention, SkipLayerNormalization, Gelu, ...).

    /usr/bin/python3 bench/peers/onnx_ops.py graph.onnx"""

import collections
import mmap
import sys


def varint(buf, i):
    value, shift = 0, 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf, start, end):
    """(field number, wire type, value or (begin, end) of a length-delimited field)."""
    i = start
    while i < end:
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = None, i + 8
        elif wire == 5:
            value, i = None, i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = (i, i + n), i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def op_counts(path):
    counts = collections.Counter()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        for number, wire, graph in fields(buf, 0, len(buf)):
            if number != 7 or wire != 2:
                continue
            for n2, w2, node in fields(buf, *graph):
                if n2 != 1 or w2 != 2:
                    continue
                for n3, w3, span in fields(buf, *node):
                    if n3 == 4 and w3 == 2:
                        counts[bytes(buf[span[0]:span[1]]).decode()] += 1
    return counts


if __name__ == "__main__":
    for op, n in op_counts(sys.argv[1]).most_common():
        print(f"{n:5d} {op}")
