#!/usr/bin/env python3
"""The article's MLP (784-HIDDEN-10, ReLU, Glorot-uniform weights, zero biases, Adam lr 1e-3 with
epsilon 1e-7, softmax cross-entropy) in JAX with the whole epoch compiled by XLA: one `lax.scan`
over the epoch's full batches, each gathering its images from the training set on the device by
the epoch's shuffled indices (no shuffled copy of the data), and one more compiled step for the
images left over when BATCH does not divide 60,000 (as nnlab's last, smaller batch). For bench/scaling.py; the first epoch
includes compilation, the last one is timed. Prints `RESULT {json}` with that epoch's seconds,
the samples per second and the test accuracy.

usage: jax_mlp_scan.py [--batch-size 32] [--hidden 32] [--epochs 2] [--threads 2] [--seed 1]
       [--data DIR]
"""
import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--hidden", type=int, default=32)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
a = p.parse_args()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={a.threads}")

import jax  # noqa: E402 (after the environment that configures it)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import mnist  # noqa: E402

train_x, train_y, test_x, test_y = mnist.load(a.data)
n, b = len(train_x), a.batch_size
full, rest = divmod(n, b)
k1, k2 = jax.random.split(jax.random.PRNGKey(a.seed))
glorot = jax.nn.initializers.glorot_uniform()
params = {"w1": glorot(k1, (784, a.hidden)), "b1": jnp.zeros(a.hidden),
          "w2": glorot(k2, (a.hidden, 10)), "b2": jnp.zeros(10)}
adam = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-7)
state = adam.init(params)


def logits(w, x):
    return jax.nn.relu(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]


def step(carry, batch):
    w, s = carry
    x, y = batch
    loss, g = jax.value_and_grad(
        lambda w: optax.softmax_cross_entropy_with_integer_labels(logits(w, x), y).mean())(w)
    u, s = adam.update(g, s, w)
    return (optax.apply_updates(w, u), s), loss


@jax.jit
def epoch(w, s, x_all, y_all, order):
    """`order`: [full, b] indices into the training set, one row per step."""
    def gathered(carry, idx):
        return step(carry, (x_all[idx], y_all[idx]))
    (w, s), losses = jax.lax.scan(gathered, (w, s), order)
    return w, s, losses.sum()


last_step = jax.jit(step)
x_all, y_all = jnp.asarray(train_x), jnp.asarray(train_y)
rng = np.random.default_rng(a.seed)
for e in range(1, a.epochs + 1):
    start = time.perf_counter()
    perm = rng.permutation(n).astype(np.int32)
    params, state, total = epoch(params, state, x_all, y_all, jnp.asarray(perm[: full * b].reshape(full, b)))
    total = total * b
    if rest:
        idx = jnp.asarray(perm[full * b:])
        (params, state), loss = last_step((params, state), (x_all[idx], y_all[idx]))
        total = total + loss * rest
    total = float(total)  # waits for the epoch to finish
    seconds = time.perf_counter() - start
    print(f"epoch {e}: loss {total / n:.4f}, {seconds:.3f} s", flush=True)
acc = float(jnp.mean(jnp.argmax(logits(params, jnp.asarray(test_x)), 1) == jnp.asarray(test_y)))
print("RESULT " + json.dumps({"seconds": seconds, "samples_per_s": n / seconds, "test_accuracy": acc}))
