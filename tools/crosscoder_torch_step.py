#!/usr/bin/python3
"""Dense PyTorch reference of one crosscoder training step (bench/crosscoder_bench.cpp runs it).

The same step as the C++ trainer step the bench times: BatchTopK crosscoder with two sources,
encoder pre = x @ W_enc + b_enc, r = relu(pre), scores r * (||d_j^A|| + ||d_j^B||) (detached),
keep the k*B largest over the batch, x_hat = z @ W_dec + b_dec, loss = mean_b ||x_b - x_hat_b||^2,
global gradient clipping at 1.0, Adam (0.9, 0.999, eps 1e-8). Everything dense (autograd through
the full [B, F] code), which is what a plain PyTorch implementation does.

Modes (Debian /usr/bin/python3 with torch; no other dependency):
  time B d F k steps threads
      times `steps` steps (after one warm-up step) on Gaussian data and prints
      TORCH_STEP_MS <fastest step> <mean step>.
  planted DIR B d F k steps threads lr
      reads DIR/train.f32 [steps*B, 2d], DIR/eval.f32 [n_eval, 2d] and the initial parameters
      DIR/enc.f32 [F, 2d], b_enc.f32 [F], dec.f32 [F, 2d], b_dec.f32 [2d] written by the bench,
      trains `steps` steps on consecutive batches at learning rate lr and prints
      TORCH_FVE <fve_A> <fve_B> <fve_all>: dataset-level FVE = 1 - sum ||x - x_hat||^2 /
      sum ||x - mean(x)||^2 on the eval rows, encoded in batches of B with BatchTopK.
"""
import os
import sys
import time

import numpy as np
import torch


def latent_weights(W_dec, d):
    return W_dec[:, :d].norm(dim=1) + W_dec[:, d:].norm(dim=1)


def code(x, W_enc, b_enc, W_dec, d, k):
    B, F = x.shape[0], W_enc.shape[1]
    r = torch.relu(x @ W_enc + b_enc)
    s = (r * latent_weights(W_dec, d).detach()).flatten()
    idx = s.topk(k * B, sorted=False).indices
    mask = torch.zeros_like(s).scatter_(0, idx, 1.0).view(B, F)
    return r * mask


def make_step(params, opt, d, k):
    W_enc, b_enc, W_dec, b_dec = params

    def step(x):
        opt.zero_grad(set_to_none=True)
        z = code(x, W_enc, b_enc, W_dec, d, k)
        xh = z @ W_dec + b_dec
        loss = ((x - xh) ** 2).sum(dim=1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    return step


def adam(params, lr):
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)


def time_mode(B, d, F, k, steps, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    D = 2 * d
    x = torch.randn(B, D)
    dec = torch.randn(F, D)
    for m in range(2):
        blk = dec[:, m * d:(m + 1) * d]
        blk /= blk.norm(dim=1, keepdim=True)
    params = [torch.nn.Parameter(dec.t().clone()), torch.nn.Parameter(torch.zeros(F)),
              torch.nn.Parameter(dec.clone()), torch.nn.Parameter(torch.zeros(D))]
    step = make_step(params, adam(params, 1e-4), d, k)
    step(x)  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - t0)
    print("TORCH_STEP_MS %.3f %.3f" % (min(times) * 1e3, sum(times) / steps * 1e3))


def load(path, shape):
    a = np.fromfile(path, dtype=np.float32)
    if a.size != int(np.prod(shape)):
        sys.exit("%s: expected %d float32 values, found %d" % (path, int(np.prod(shape)), a.size))
    return torch.from_numpy(a.reshape(shape))


def planted_mode(root, B, d, F, k, steps, threads, lr):
    torch.set_num_threads(threads)
    D = 2 * d
    train = load(os.path.join(root, "train.f32"), (steps * B, D))
    ev = np.fromfile(os.path.join(root, "eval.f32"), dtype=np.float32)
    ev = torch.from_numpy(ev.reshape(-1, D))
    params = [torch.nn.Parameter(load(os.path.join(root, "enc.f32"), (F, D)).t().contiguous()),
              torch.nn.Parameter(load(os.path.join(root, "b_enc.f32"), (F,)).clone()),
              torch.nn.Parameter(load(os.path.join(root, "dec.f32"), (F, D)).clone()),
              torch.nn.Parameter(load(os.path.join(root, "b_dec.f32"), (D,)).clone())]
    step = make_step(params, adam(params, lr), d, k)
    for s in range(steps):
        step(train[s * B:(s + 1) * B])
    W_enc, b_enc, W_dec, b_dec = params
    sse = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for b0 in range(0, ev.shape[0] - B + 1, B):
            x = ev[b0:b0 + B]
            e = (x - (code(x, W_enc, b_enc, W_dec, d, k) @ W_dec + b_dec)).double()
            sse[0] += (e[:, :d] ** 2).sum()
            sse[1] += (e[:, d:] ** 2).sum()
        n = (ev.shape[0] // B) * B
        xe = ev[:n].double()
        c = xe - xe.mean(dim=0)
        sst = torch.stack([(c[:, :d] ** 2).sum(), (c[:, d:] ** 2).sum()])
    fve = 1 - sse / sst
    print("TORCH_FVE %.6f %.6f %.6f" % (fve[0], fve[1], 1 - sse.sum() / sst.sum()))


def main():
    mode = sys.argv[1]
    if mode == "time":
        time_mode(*map(int, sys.argv[2:8]))
    elif mode == "planted":
        root = sys.argv[2]
        B, d, F, k, steps, threads = map(int, sys.argv[3:9])
        planted_mode(root, B, d, F, k, steps, threads, float(sys.argv[9]))
    else:
        sys.exit("usage: crosscoder_torch_step.py time|planted ...")


if __name__ == "__main__":
    main()
