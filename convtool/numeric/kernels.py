"""The kernels: each strategy of a plan as numpy passes around one matrix product per tile,
and the execution of a plan, shared out across threads when the plan says so.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from . import threads
from .plan import Axis, Flat, Phase, Plan, Tiles

Array = npt.NDArray[np.floating]



def execute(plan: Plan, x: Array, weight: Array, bias: Array | None) -> Array:
    """Compute the layer: x (N, C_in, H, W) C-contiguous, weight in PyTorch's layout."""
    out = np.empty(plan.output_shape, x.dtype)
    if out.size == 0:
        return out
    run = _RUN[plan.strategy, plan.params.transposed]
    if plan.parts == 1:
        run(plan, x, weight, bias, out)
        return out
    n, cin = plan.input_shape[:2]
    cout, g, transposed = plan.output_shape[1], plan.groups, plan.params.transposed
    jobs = []
    if plan.split == "tiles":  # each share lays the whole input out again: a pass each, side by side
        for t0, t1 in threads.shares(len(plan.tiles), plan.parts):
            jobs.append(functools.partial(run, plan, x, weight, bias, out, tiles=plan.tiles[t0:t1]))
    elif plan.split == "images":
        for n0, n1 in threads.shares(n, plan.parts):
            jobs.append(functools.partial(run, plan.share(images=n1 - n0), x[n0:n1], weight, bias, out[n0:n1]))
    elif plan.split == "groups":
        cig, cog = cin // g, cout // g
        for g0, g1 in threads.shares(g, plan.parts):
            ci, co = slice(g0 * cig, g1 * cig), slice(g0 * cog, g1 * cog)
            jobs.append(functools.partial(
                run, plan.share(groups=g1 - g0), x[:, ci], weight[ci if transposed else co],
                None if bias is None else bias[co], out[:, co],
            ))
    else:  # output channels (one group): each share reads the whole input
        for c0, c1 in threads.shares(cout, plan.parts):
            co = slice(c0, c1)
            jobs.append(functools.partial(
                run, plan.share(out_channels=c1 - c0), x, weight[:, co] if transposed else weight[co],
                None if bias is None else bias[co], out[:, co],
            ))
    threads.side_by_side(jobs)
    return out


def _transpose_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """GEMM into channels-last columns (pixels x taps·C_out), then one scatter-add per tap."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    by_tap = weight.reshape(g, cig, cog, kh * kw)
    taps_last = cin >= n * h * w  # else a copy of the weight buys contiguous scatter loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cig, cog * kh * kw)
    xl = x.reshape(n, g, cig, h * w).transpose(1, 0, 3, 2)
    slices = [_tap_slices(axis) for axis in plan.axes]
    for n0, n1, _, _ in plan.tiles:
        xs = np.ascontiguousarray(xl[:, n0:n1]).reshape(g, (n1 - n0) * h * w, cig)
        cols = np.matmul(xs, wmat)
        acc = np.zeros((n1 - n0, ho, wo, g, cog), x.dtype)  # per tile: still in cache to finish
        dst = acc.transpose(3, 0, 1, 2, 4)  # (g, n, ho, wo, cog)
        if taps_last:
            tap = cols.reshape(g, n1 - n0, h, w, cog, kh, kw).transpose(5, 6, 0, 1, 2, 3, 4)
        else:
            tap = cols.reshape(g, n1 - n0, h, w, kh, kw, cog).transpose(4, 5, 0, 1, 2, 3, 6)
        for th, (ih, oh) in slices[0]:
            for tw, (iw, ow) in slices[1]:
                dst[:, :, oh, ow] += tap[th, tw, :, :, ih, iw]
        _finish_channels_last(acc.reshape(n1 - n0, ho, wo, cout), bias, out[n0:n1])


def _tap_slices(axis: Axis) -> list[tuple[int, tuple[slice, slice]]]:
    """Per kernel tap of a transposed axis: (tap, (input slice, output slice)) it connects."""
    result = []
    for r, phase in enumerate(axis.phases):
        for t, _, off in phase.taps:
            first, last = max(0, off), min(axis.size, phase.count + off)
            if first < last:
                start = r + axis.step * (first - off)
                result.append((t, (slice(first, last), slice(start, start + axis.step * (last - first - 1) + 1, axis.step))))
    return result


def _conv_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """Channels-last im2col (pixels x taps·C_in) per tile of images, then one GEMM per tile
    that leaves the output channels first."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    (pt, pb), (pl, pr) = plan.params.padding_pairs
    sh, sw = plan.params.stride
    dh, dw = plan.params.dilation
    by_tap = weight.reshape(g, cog, cig, kh * kw)
    taps_last = cin >= n * ho * wo  # else a copy of the weight buys contiguous im2col loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cog, cig * kh * kw)
    # weights first: the product comes out channels first (for one image, the output itself),
    # and OpenBLAS runs it up to twice as fast as columns first when the pixels are few
    res = _view(out, g, cog, ho * wo) if n == 1 else np.empty((g, cog, n * ho * wo), x.dtype)
    for n0, n1, _, _ in plan.tiles:
        nb = n1 - n0
        xp = np.zeros((g, nb, h + pt + pb, w + pl + pr, cig), x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x[n0:n1].reshape(nb, g, cig, h, w).transpose(1, 0, 3, 4, 2)
        cols = np.empty((g, nb, ho, wo, cig * kh * kw), x.dtype)
        if taps_last:
            tap = cols.reshape(g, nb, ho, wo, cig, kh, kw).transpose(5, 6, 0, 1, 2, 3, 4)
        else:
            tap = cols.reshape(g, nb, ho, wo, kh, kw, cig).transpose(4, 5, 0, 1, 2, 3, 6)
        for th in range(kh):
            for tw in range(kw):
                tap[th, tw] = xp[:, :, _tap_window(th, dh, sh, 0, ho), _tap_window(tw, dw, sw, 0, wo)]
        np.matmul(wmat, cols.reshape(g, nb * ho * wo, cig * kh * kw).transpose(0, 2, 1), out=res[..., n0 * ho * wo:n1 * ho * wo])
    by_image = res.reshape(g, cog, n, ho * wo).transpose(2, 0, 1, 3).reshape(n, cout, ho * wo)
    if bias is not None:
        np.add(by_image, bias[:, None], out=_view(out, n, cout, ho * wo))
    elif n > 1:
        np.copyto(_view(out, n, cout, ho * wo), by_image)


def _tap_window(t: int, d: int, s: int, first: int, count: int) -> slice:
    """The padded input positions that kernel tap t (dilation d, stride s) reads for outputs
    first .. first + count - 1 of a convolution's axis.

    >>> _tap_window(2, 1, 2, 1, 3)  # outputs 1, 2, 3 read 4, 6, 8
    slice(4, 9, 2)
    """
    start = t * d + s * first
    return slice(start, start + s * (count - 1) + 1, s)


def _view(out: Array, *shape: int) -> Array:
    """`out` reshaped without a copy (a copy would lose what is written into it). The outputs
    the strategies get, slices of images or channels of a C-contiguous array, always reshape so.
    """
    view = out.view()
    view.shape = shape  # raises rather than copies
    return view


def _finish_channels_last(acc: Array, bias: Array | None, out: Array) -> None:
    """out (N, C, H, W) = acc (N, H, W, C) + bias."""
    src = acc.transpose(0, 3, 1, 2)
    if bias is None:
        np.copyto(out, src)
    else:
        np.add(src, bias[:, None, None], out=out)




def _conv_im2col(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """The classic im2col: per tile, rows of C_in/g · taps shifted inputs with exactly the
    output's columns, then one GEMM per image straight into the output (no crop, no transpose)."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    (pt, pb), (pl, pr) = plan.params.padding_pairs
    sh, sw = plan.params.stride
    dh, dw = plan.params.dilation
    if pt or pb or pl or pr:
        xp = np.zeros((n, cin, h + pt + pb, w + pl + pr), x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xp = x
    xg = xp.reshape(n, g, cig, *xp.shape[2:])
    wmat = weight.reshape(g, cog, cig * kh * kw)
    tiles = plan.tiles if tiles is None else tiles
    widest = max((n1 - n0) * (q1 - q0) for n0, n1, q0, q1 in tiles)
    cols_buffer = np.empty(widest * g * cig * kh * kw * wo, x.dtype)
    for n0, n1, q0, q1 in tiles:
        nb, rows = n1 - n0, q1 - q0
        cols = cols_buffer[:nb * g * cig * kh * kw * rows * wo].reshape(nb, g, cig, kh, kw, rows, wo)
        for th in range(kh):
            for tw in range(kw):
                cols[:, :, :, th, tw] = xg[n0:n1, :, :, _tap_window(th, dh, sh, q0, rows), _tap_window(tw, dw, sw, 0, wo)]
        dst = _view(out[n0:n1, :, q0:q1], nb, g, cog, rows * wo)  # each row is contiguous
        np.matmul(wmat, cols.reshape(nb, g, cig * kh * kw, rows * wo), out=dst)
        if bias is not None:
            dst += bias.reshape(g, cog, 1)


# == strategy: gemm (layers that are one matrix product) ===================================


def _matrix_product(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """One batched matrix product written straight into the output (see `_product`)."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    if plan.product == "pixels":  # (C_out/g x C_in/g) @ (C_in/g x pixels), image by image
        by_group = weight.reshape(g, cig, cog).transpose(0, 2, 1) if plan.params.transposed else weight.reshape(g, cog, cig)
        np.matmul(by_group, x.reshape(n, g, cig, h * w), out=_view(out, n, g, cog, h * w))
    elif plan.params.transposed:  # per group (images x C_in/g) @ (C_in/g x C_out/g·kernel)
        np.matmul(x.reshape(n, g, cig).transpose(1, 0, 2), weight.reshape(g, cig, -1), out=_view(out, n, g, cog * ho * wo).transpose(1, 0, 2))
    else:  # per group (C_out/g x C_in/g·kernel) @ (C_in/g·kernel x images): OpenBLAS is twice as fast this way round
        np.copyto(_view(out, n, g, cog).transpose(1, 2, 0), np.matmul(weight.reshape(g, cog, -1), x.reshape(n, g, -1).transpose(1, 2, 0)))
    if bias is not None:
        flat = _view(out, n, cout, ho * wo)
        np.add(flat, bias[:, None], out=flat)




def _flat_input(plan: Plan, x: Array, flat: Flat) -> Array:
    """x laid out flat: (groups, C_in/groups, planes, length), zeros around the data."""
    n, cin, h, w = plan.input_shape
    g = plan.groups
    ah, aw = plan.axes
    planes = ah.in_step * aw.in_step
    if n == 1 and planes == 1 and flat.lead == 0 and (flat.pitch, flat.image_rows) == (w, h) and flat.hi <= 0:
        return x.reshape(g, cin // g, 1, h * w)
    buf = np.zeros((g, cin // g, planes, flat.length), x.dtype)
    images = buf[..., flat.lead:flat.lead + n * flat.image_rows * flat.pitch]
    images = images.reshape(g, cin // g, planes, n, flat.image_rows, flat.pitch)
    xs = x.reshape(n, g, cin // g, h, w).transpose(1, 2, 0, 3, 4)
    for ph in range(ah.in_step):
        first_h, start_h, count_h = ah.plane_span(ph)
        for pw in range(aw.in_step):
            first_w, start_w, count_w = aw.plane_span(pw)
            images[:, :, ph * aw.in_step + pw, :, first_h:first_h + count_h, first_w:first_w + count_w] = xs[
                ..., start_h::ah.in_step, start_w::aw.in_step
            ][..., :count_h, :count_w]
    return buf




def _emit(
    plan: Plan, out: Array, tile: tuple[int, int, int, int], target: tuple[int, int, Phase, Phase],
    src: Array | None, bias: Array | None, pitch: int,
) -> None:
    """Write one output phase of one tile, adding the bias; `src` None: the bias alone.

    src (channels, images·rows·pitch) is on the flat grid; output phase (rh, rw) holds the
    positions (rh + step_h·q, rw + step_w·q').
    """
    n0, n1, q0, q1 = tile
    rh, rw, ph_h, ph_w = target
    ah, aw = plan.axes
    rows = min(q1, ph_h.count) - q0
    if rows <= 0:
        return
    start = rh + ah.step * q0
    dst = out[n0:n1, :, start:start + ah.step * (rows - 1) + 1:ah.step, rw::aw.step]
    if src is None:
        dst[...] = 0 if bias is None else bias[:, None, None]
        return
    view = src.reshape(src.shape[0], n1 - n0, q1 - q0, pitch)[:, :, :rows, :ph_w.count].transpose(1, 0, 2, 3)
    if bias is None:
        np.copyto(dst, view)
    else:
        np.add(view, bias[:, None, None], out=dst)




def _flat_scatter(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Transposed: per tile one GEMM gives every tap's columns on the flat grid; each output
    phase sums its taps' columns at their offsets (col2im without a pixel loop)."""
    n, cin, _, _ = plan.input_shape
    cout = plan.output_shape[1]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    flat, tiles = plan.flat, plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)[:, :, 0]
    wmat = weight.reshape(g, cig, cog * kh * kw).transpose(0, 2, 1)
    halo = flat.hi - flat.lo
    widest = max(flat.span(tile)[1] for tile in tiles)
    # one buffer each for all tiles: fresh pages for every tile would cost page faults
    cols_buffer = np.empty((g, cog * kh * kw, widest + halo), x.dtype)
    acc_buffer = np.empty((g, cog, widest), x.dtype)
    for tile in tiles:
        first, span = flat.span(tile)
        begin = flat.lead + first + flat.lo
        cols = np.matmul(wmat, buf[:, :, begin:begin + span + halo], out=cols_buffer[..., :span + halo])
        cols = cols.reshape(g, cog, kh * kw, span + halo)
        acc = acc_buffer[..., :span]
        for target in plan.targets:
            reads = [
                cols[:, :, th * kw + tw, o:o + span]
                for th, _, oh in target[2].taps
                for tw, _, ow in target[3].taps
                for o in (oh * flat.pitch + ow - flat.lo,)
            ]
            if not reads:
                _emit(plan, out, tile, target, None, bias, flat.pitch)
                continue
            total = reads[0]
            if len(reads) > 1:
                total = np.add(reads[0], reads[1], out=acc)
                for view in reads[2:]:
                    np.add(total, view, out=total)
            _emit(plan, out, tile, target, total.reshape(cout, span), bias, flat.pitch)


def _flat_gather(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Stack the shifted inputs of every distinct (plane, offset) per tile (im2col on the flat
    grid), then one GEMM computes every output phase."""
    n, cin, _, _ = plan.input_shape
    cout = plan.output_shape[1]
    g = plan.groups
    cig, cog = cin // g, cout // g
    flat, targets, direct = plan.flat, plan.targets, plan.direct
    tiles = plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)
    sources, wmat = plan.sources[0], _gather_weights(plan, weight)
    u = len(sources)
    widest = max(flat.span(tile)[1] for tile in tiles)
    stack_buffer = np.empty((g, cig, 0 if direct else u, widest), x.dtype)
    res_buffer = np.empty((g, cog * len(targets), widest), x.dtype)
    for tile in tiles:
        first, span = flat.span(tile)
        begin = flat.lead + first
        if direct:
            stack = buf[..., begin:begin + span]
        else:
            stack = stack_buffer[..., :span]
            for i, (plane, off) in enumerate(sources):
                stack[:, :, i] = buf[:, :, plane, begin + off:begin + off + span]
        res = np.matmul(wmat, stack.reshape(g, cig * u, span), out=res_buffer[..., :span])
        res = res.reshape(g, cog, len(targets), span)
        for r, target in enumerate(targets):
            _emit(plan, out, tile, target, res[:, :, r].reshape(cout, span), bias, flat.pitch)


def _gather_weights(plan: Plan, weight: Array) -> Array:
    """The weight matrix (groups, C_out/g · phases, C_in/g · sources) that maps the stacked
    sources to every output phase at once."""
    g = plan.groups
    sources, entries = plan.sources
    if not plan.params.transposed:  # a convolution's sources are its taps, in kernel order
        cout, cig = weight.shape[:2]
        return weight.reshape(g, cout // g, cig * len(sources))
    cin, cog = weight.shape[:2]
    phases = len(plan.targets)
    w4 = weight.reshape(g, cin // g, cog, -1)
    wmat = np.zeros((g, cog, phases, cin // g, len(sources)), weight.dtype)
    for r, t, u in entries:
        wmat[:, :, r, :, u] = w4[..., t].transpose(0, 2, 1)
    return wmat.reshape(g, cog * phases, -1)


_RUN = {
    ("columns", True): _transpose_columns,
    ("columns", False): _conv_columns,
    ("scatter", True): _flat_scatter,
    ("gather", True): _flat_gather,
    ("gather", False): _flat_gather,
    ("im2col", False): _conv_im2col,
    ("gemm", True): _matrix_product,
    ("gemm", False): _matrix_product,
}
