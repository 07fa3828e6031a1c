#!/usr/bin/env python3
"""Draws Mycel's app icons (a small network of nodes) as PNGs into public/icons/. Standard
library only; run from the repository root: python3 web/assets-src/make-icons.py"""
import math, struct, zlib

NODES = [(0.5, 0.5, 0.11), (0.25, 0.3, 0.065), (0.75, 0.28, 0.065), (0.27, 0.74, 0.065), (0.76, 0.72, 0.065)]
EDGES = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (3, 4)]
BG, FG = (47, 111, 79), (246, 245, 241)

def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)

def coverage(x, y, size, inset):
    u = (x + 0.5) / size
    v = (y + 0.5) / size
    u = (u - 0.5) / (1 - 2 * inset) + 0.5
    v = (v - 0.5) / (1 - 2 * inset) + 0.5
    d = min(math.hypot(u - nx, v - ny) - r for nx, ny, r in NODES)
    d = min(d, min(seg_dist(u, v, *NODES[a][:2], *NODES[b][:2]) - 0.022 for a, b in EDGES))
    return max(0.0, min(1.0, 0.5 - d * size * (1 - 2 * inset)))

def png(path, size, inset, rounded):
    rows = []
    radius = size * 0.2
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            a = 1.0
            if rounded:
                cx = min(max(x + 0.5, radius), size - radius)
                cy = min(max(y + 0.5, radius), size - radius)
                a = max(0.0, min(1.0, radius - math.hypot(x + 0.5 - cx, y + 0.5 - cy) + 0.5))
            c = coverage(x, y, size, inset)
            rgb = [round(BG[i] * (1 - c) + FG[i] * c) for i in range(3)]
            row += bytes(rgb + [round(255 * a)])
        rows.append(bytes(row))
    raw = b''.join(rows)
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 6, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(raw, 9)))
        f.write(chunk(b'IEND', b''))

png('public/icons/icon-192.png', 192, 0.0, True)
png('public/icons/icon-512.png', 512, 0.0, True)
png('public/icons/maskable-512.png', 512, 0.12, False)
