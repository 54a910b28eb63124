#!/usr/bin/env python3
"""PyTorch twins of nnlab's models, replaying an nnlab run step by step.

`init` draws the twin's initial weights (PyTorch's own initialisers, seeded) and saves them as
safetensors with the twin's names, which `train.init_from` reads. `replay` starts the twin from
those weights and feeds it the batches an nnlab run traced (`nnlab train --trace`, the run's
`trace/order.txt`), in the same order, with the run's loss and optimizer (read from the run's
`config.toml`), and writes the loss of every step (before its update, as nnlab records it) and
the final weights. `--mutate` replays with one deliberate error, to show what a comparison's
tolerance catches:

- `beta2`: Adam's second-moment decay 0.99 instead of the config's;
- `no-bias-correction`: Adam without its bias corrections;
- `transposed-kernel`: every convolution kernel transposed (rows for columns) at the start;
- `alternating`: the MLP GAN's networks stepping one after the other where the config says at
  once;
- `g-after-d`: stepping at once, the generator's gradient taken through the discriminator after
  its step instead of before;
- `full-d-loss`: the discriminator stepping on its whole loss where the config halves it;
- `constant-momentum`: the momentum kept at its first value;
- `constant-lr`: the learning rate kept at its first value.

Models: the MLP (`model.kind = "mlp"`) and the LeNet-style CNN (`model.kind = "cnn"` with
square kernels, tanh/relu, average or max pooling) on 28x28 images, and the VAE (`model.kind =
"vae"` with one hidden layer), whose epsilon of each step the trace holds (`trace/noise.f32`);
optimizers `sgd` (with or without momentum; the constant or exponential schedule, the momentum
rising over epochs) and `adam` with either epsilon placement. And the two GANs, on the two noise
draws of each step the trace holds: the DCGAN (`model.kind = "dcgan"`), one discriminator step,
then one generator step per batch; the MLP GAN of Goodfellow et al. (`model.kind = "gan"`, maxout
discriminator, without dropout or a norm cap), stepping one network after the other or both at
once as their code does (`model.simultaneous`). Runs with weight decay are refused.

usage: torch_steps.py init CONFIG.toml --out INIT.safetensors [--seed 1] [--set KEY=VALUE ...]
       torch_steps.py replay RUN_DIR --init INIT.safetensors --losses OUT.csv
                      [--weights OUT.safetensors] [--mutate NAME] [--data MNIST_DIR]
"""
import argparse
import os
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import mnist

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Vae(nn.Module):
    """The VAE of bench/peers/torch_vae.py, its layers named as `nnlab export --names torch`
    writes them; `forward` takes the step's epsilon."""

    def __init__(self, hidden, latent, act):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.dec1 = nn.Linear(latent, hidden)
        self.dec2 = nn.Linear(hidden, 784)
        self.act = act()

    def forward(self, x, eps):
        h = self.act(self.enc(x))
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.exp(0.5 * log_var) * eps
        return self.dec2(self.act(self.dec1(z))), mu, log_var


def vae_loss(logits, x, mu, log_var):
    """-ELBO per image, averaged over the batch: the pixels' Bernoulli cross-entropy plus the KL
    divergence of q(z|x) from N(0, I)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)
    return (recon + kl).mean()


class DcganGenerator(nn.Module):
    """The DCGAN generator of bench/peers/torch_dcgan.py: noise to pixels in [0, 1]."""

    def __init__(self, latent, g):
        super().__init__()
        self.g = g
        self.project = nn.Linear(latent, 2 * g * 7 * 7)
        self.bn0 = nn.BatchNorm2d(2 * g)
        self.up1 = nn.ConvTranspose2d(2 * g, g, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(g)
        self.up2 = nn.ConvTranspose2d(g, 1, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn0(self.project(z).view(-1, 2 * self.g, 7, 7)))
        x = torch.tanh(self.up2(F.relu(self.bn1(self.up1(h)))))
        return (x.reshape(len(z), 784) + 1) * 0.5


class DcganDiscriminator(nn.Module):
    """The DCGAN discriminator: pixels in [0, 1] (taken to [-1, 1]) to the logit of real."""

    def __init__(self, d):
        super().__init__()
        self.down1 = nn.Conv2d(1, d, 4, 2, 1)
        self.down2 = nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * d)
        self.out = nn.Linear(2 * d * 7 * 7, 1)

    def forward(self, x):
        x = (x * 2 - 1).view(-1, 1, 28, 28)
        h = F.leaky_relu(self.down1(x), 0.2)
        h = F.leaky_relu(self.bn2(self.down2(h)), 0.2)
        return self.out(h.flatten(1))


class Dcgan(nn.Module):
    """The DCGAN of `model.kind = "dcgan"`: its weights drawn from N(0, 0.02), biases zero."""

    def __init__(self, latent, g, d):
        super().__init__()
        self.generator = DcganGenerator(latent, g)
        self.discriminator = DcganDiscriminator(d)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def generate(self, z):
        return self.generator(z)

    def logit(self, x):
        return self.discriminator(x)


class Gan(nn.Module):
    """The MLP GAN of `model.kind = "gan"` (configs/gan_2014_maxout.toml): a generator of ReLU
    layers with logistic outputs, and a discriminator of maxout units (Goodfellow et al. 2013;
    each unit's pieces side by side among its layer's outputs, as nnlab keeps them) or leaky-ReLU
    units, ending in one logit. It draws no dropout masks and caps no weights (`check` refuses
    such runs). Its own initial weights: uniform in +-`generator_init` / +-`discriminator_init`
    (pylearn2's `irange`), or Glorot-uniform where the range is 0, and zero biases."""

    def __init__(self, m):
        super().__init__()
        if (m.get("generator_activation", "relu"), m.get("output", "logistic")) != ("relu", "logistic"):
            raise SystemExit("the GAN twin has ReLU hidden units and logistic outputs")
        self.maxout = m.get("maxout_pieces", 0)
        pieces = max(self.maxout, 1)
        g = [m.get("latent", 100), *m["generator"], 784]
        self.generator = nn.ModuleList(nn.Linear(a, b) for a, b in zip(g, g[1:]))
        d, inputs = [], 784
        for units in m["discriminator"]:
            d.append(nn.Linear(inputs, units * pieces))
            inputs = units
        d.append(nn.Linear(inputs, 1))
        self.discriminator = nn.ModuleList(d)
        for layers, r in ((self.generator, m.get("generator_init", 0.0)),
                          (self.discriminator, m.get("discriminator_init", 0.0))):
            for layer in layers:
                if r > 0:
                    nn.init.uniform_(layer.weight, -r, r)
                else:
                    nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    @staticmethod
    def check(m):
        """Refuses a run whose steps the twin cannot take."""
        if m.get("max_col_norm", 0.0):
            raise SystemExit("the GAN twin caps no weights: set model.max_col_norm to 0")
        if m.get("dropout", 0.0) or m.get("input_dropout", 0.0):
            raise SystemExit("the GAN twin draws no dropout masks: "
                             "set model.dropout and model.input_dropout to 0")

    def generate(self, z):
        for layer in self.generator[:-1]:
            z = F.relu(layer(z))
        return torch.sigmoid(self.generator[-1](z))

    def logit(self, x):
        for layer in self.discriminator[:-1]:
            a = layer(x)
            if self.maxout > 0:
                x = a.view(len(a), -1, self.maxout).amax(2)
            else:
                x = F.leaky_relu(a, 0.2)
        return self.discriminator[-1](x)


def twin(config):
    """The twin of the config's `[model]`, whose parameter names are the ones `nnlab export
    --names torch` writes."""
    m = config["model"]
    act = ACTIVATIONS[m.get("activation", "relu")]
    if m["kind"] == "gan":
        return Gan(m)
    if m["kind"] == "dcgan":
        return Dcgan(m.get("latent", 100), m.get("g_features", 32), m.get("d_features", 32))
    if m["kind"] == "vae":
        if len(m.get("hidden", [400])) != 1:
            raise SystemExit("the VAE twin has one hidden layer")
        return Vae(m.get("hidden", [400])[0], m.get("latent", 20), act)
    if m["kind"] == "mlp":
        if m.get("maxout_pieces", 0):
            raise SystemExit("the MLP twin has no maxout units: set model.maxout_pieces to 0")
        widths = [784] + list(m.get("hidden", [32])) + [10]
        layers = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i + 2 < len(widths):
                layers.append(act())
        return nn.Sequential(*layers)
    if m["kind"] == "cnn":
        k, side, c_in, layers = m.get("kernel", 5), 28, 1, []
        pool = nn.AvgPool2d if m.get("pool", "max") == "avg" else nn.MaxPool2d
        for c, p in zip(m["channels"], m["padding"]):
            layers += [nn.Conv2d(c_in, c, k, padding=p), act(), pool(2)]
            side, c_in = (side + 2 * p - k + 1) // 2, c
        layers.append(nn.Flatten())
        widths = [c_in * side * side] + list(m["dense"]) + [10]
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i + 2 < len(widths):
                layers.append(act())
        return nn.Sequential(*layers)
    raise SystemExit(f"no twin for model.kind = {m['kind']!r}")


def forward(model, config, x):
    if config["model"]["kind"] == "cnn":
        x = x.view(-1, 1, 28, 28)
    return model(x)


class Adam:
    """Adam as nnlab's config describes it: `keras` adds epsilon before the bias correction
    (`lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)`, `w -= lr_t m / (sqrt(v) + eps)`), `pytorch` after
    (`w -= lr m_hat / (sqrt(v_hat) + eps)`)."""

    def __init__(self, params, lr, b1, b2, eps, placement, bias_correction=True):
        self.params, self.lr, self.b1, self.b2, self.eps = list(params), lr, b1, b2, eps
        self.placement, self.correct, self.t = placement, bias_correction, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        c1 = 1 - self.b1 ** self.t if self.correct else 1.0
        c2 = 1 - self.b2 ** self.t if self.correct else 1.0
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            if self.placement == "keras":
                lr_t = self.lr * (c2 ** 0.5) / c1
                p.sub_(lr_t * m / (v.sqrt() + self.eps))
            else:
                p.sub_(self.lr * (m / c1) / ((v / c2).sqrt() + self.eps))


def weights(model):
    """The state dict as safetensors takes it, without batch norm's step counters (nnlab keeps
    none)."""
    return {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def optimizer(model, train, mutate):
    lr = train.get("lr", 1e-3)
    name = train.get("optimizer", "adam")
    if train.get("weight_decay", 0.0):
        raise SystemExit("the twin replays no weight decay")
    if name == "sgd":
        # Heavy-ball momentum without dampening, as nnlab sets burn's: v = m v + g, w -= lr v;
        # `schedule` sets each step's lr and momentum.
        s = train.get("sgd", {})
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=s.get("momentum", 0.0),
                               nesterov=s.get("nesterov", False))
    if name != "adam":
        raise SystemExit(f"the twin replays sgd and adam, not {name!r}")
    a = train.get("adam", {})
    b2 = 0.99 if mutate == "beta2" else a.get("beta2", 0.999)
    return Adam(model.parameters(), lr, a.get("beta1", 0.9), b2, a.get("epsilon", 1e-8),
                a.get("epsilon_placement", "pytorch"), bias_correction=mutate != "no-bias-correction")


def schedule(opts, train, step, epoch, mutate):
    """Sets each optimizer's learning rate and momentum for `step` (0-based, counted over the
    whole run) in `epoch` (0-based) as nnlab's config describes them: `exponential` is
    `max(lr_min, lr gamma^t)` after `t` steps; the momentum rises linearly from `momentum` in
    the first epoch to `momentum_final` in epoch `momentum_epochs`, as pylearn2's
    `MomentumAdjustor`."""
    name = train.get("schedule", "constant")
    lr = train.get("lr", 1e-3)
    if name == "exponential" and mutate != "constant-lr":
        lr = max(train.get("lr_min", 0.0), lr * train.get("gamma", 0.1) ** step)
    elif name not in ("constant", "exponential"):
        raise SystemExit(f"the twin replays the constant and exponential schedules, not {name!r}")
    s = train.get("sgd", {})
    momentum = s.get("momentum", 0.0)
    if "momentum_final" in s and mutate != "constant-momentum":
        span = max(s.get("momentum_epochs", 1) - 1, 1)
        momentum += (s["momentum_final"] - momentum) * min(epoch / span, 1.0)
    for opt in opts if isinstance(opts, list) else [opts]:
        if not hasattr(opt, "param_groups"):
            if name != "constant":
                raise SystemExit("the twin's Adam keeps a constant learning rate")
            continue
        for group in opt.param_groups:
            group["lr"] = lr
            if "momentum" in group:
                # burn's `Momentum` keeps its coefficient as an f32 (0.7 becomes 0.69999999).
                group["momentum"] = float(np.float32(momentum))


def gan_step(model, opt, real, z_d, z_g, m, mutate):
    """One step of a GAN (`Gan` or `Dcgan`) as nnlab's GAN tasks take it, returning the
    discriminator's loss (`-log D(x) - log(1 - D(G(z_d)))`, before `d_loss_scale`). With
    `model.simultaneous` (Goodfellow et al.'s code) both step at once from the same fakes: the
    generator on `-log D(G(z_d))` through the discriminator before its step; otherwise the
    discriminator steps first and the generator then steps on fresh noise `z_g` through it."""
    simultaneous = m.get("simultaneous", False) and mutate != "alternating"
    scale = 1.0 if mutate == "full-d-loss" else m.get("d_loss_scale", 1.0)
    fake = model.generate(z_d)
    if simultaneous and mutate != "g-after-d":
        g_loss = F.softplus(-model.logit(fake)).mean()
        g_grads = torch.autograd.grad(g_loss, list(model.generator.parameters()))
    d_loss = F.softplus(-model.logit(real)).mean() + F.softplus(model.logit(fake.detach())).mean()
    d_grads = torch.autograd.grad(scale * d_loss, list(model.discriminator.parameters()))
    for q, g in zip(model.discriminator.parameters(), d_grads):
        q.grad = g
    opt[0].step()
    if simultaneous and mutate == "g-after-d":
        g_loss = F.softplus(-model.logit(fake)).mean()
        g_grads = torch.autograd.grad(g_loss, list(model.generator.parameters()))
    elif not simultaneous:
        g_loss = F.softplus(-model.logit(model.generate(z_g))).mean()
        g_grads = torch.autograd.grad(g_loss, list(model.generator.parameters()))
    for q, g in zip(model.generator.parameters(), g_grads):
        q.grad = g
    opt[1].step()
    return d_loss


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("init")
    i.add_argument("config")
    i.add_argument("--out", required=True)
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override the config as `nnlab train --set` does (a TOML value)")
    r = sub.add_parser("replay")
    r.add_argument("run")
    r.add_argument("--init", required=True)
    r.add_argument("--losses", required=True)
    r.add_argument("--weights")
    r.add_argument("--mutate", choices=["beta2", "no-bias-correction", "transposed-kernel",
                                        "alternating", "g-after-d", "full-d-loss",
                                        "constant-momentum", "constant-lr"])
    r.add_argument("--double", action="store_true",
                   help="replay in float64: how far f32 arithmetic itself drifts from exact")
    r.add_argument("--data", default=os.environ.get("MNIST_DIR", "../shared/data/mnist"))
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.command == "init":
        config = tomllib.load(open(a.config, "rb"))
        for item in a.set:
            key, value = item.split("=", 1)
            *path, last = key.split(".")
            table = config
            for part in path:
                table = table.setdefault(part, {})
            try:
                table[last] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                table[last] = value
        torch.manual_seed(a.seed)
        save_file(weights(twin(config)), a.out)
        return
    config = tomllib.load(open(os.path.join(a.run, "config.toml"), "rb"))
    kind = config["model"]["kind"]
    if kind != "vae" and config["train"].get("loss", "cross_entropy") != "cross_entropy":
        raise SystemExit("the twin replays the softmax cross-entropy only")
    model = twin(config)
    state = load_file(a.init)
    if a.mutate == "transposed-kernel":
        state = {k: v.transpose(2, 3).contiguous() if v.dim() == 4 else v for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    if a.double:
        model.double()
    missing = set(weights(model)) - set(state)
    if missing:
        raise SystemExit(f"{a.init} lacks {sorted(missing)}")
    if kind in ("gan", "dcgan"):
        opt = [optimizer(model.discriminator, config["train"], a.mutate),
               optimizer(model.generator, config["train"], a.mutate)]
    else:
        opt = optimizer(model, config["train"], a.mutate)
    train_x, train_y, _, _ = mnist.load(a.data)
    order = [list(map(int, line.split())) for line in open(os.path.join(a.run, "trace", "order.txt"))]
    # Each step's epoch (1-based), as the trace's losses record it.
    steps_csv = open(os.path.join(a.run, "trace", "steps.csv")).readlines()[1:]
    epochs = [int(line.split(",")[0]) for line in steps_csv]
    if kind == "gan":
        Gan.check(config["model"])
    if kind in ("vae", "gan", "dcgan"):
        noise = torch.from_numpy(np.fromfile(os.path.join(a.run, "trace", "noise.f32"), dtype="<f4"))
        if a.double:
            noise = noise.double()
        latent = config["model"].get("latent", 20 if kind == "vae" else 100)
        draws = 1 if kind == "vae" else 2
        starts = np.cumsum([0] + [draws * len(idx) * latent for idx in order])
    with open(a.losses, "w") as out:
        out.write("step,loss\n")
        for step, idx in enumerate(order, 1):
            x, y = torch.from_numpy(train_x[idx]), torch.from_numpy(train_y[idx])
            if a.double:
                x = x.double()
            for q in model.parameters():
                q.grad = None
            schedule(opt, config["train"], step - 1, epochs[step - 1] - 1, a.mutate)
            if kind in ("gan", "dcgan"):
                z = noise[starts[step - 1]:starts[step]].view(2, len(idx), -1)
                loss = gan_step(model, opt, x, z[0], z[1], config["model"], a.mutate)
            else:
                if kind == "vae":
                    eps = noise[starts[step - 1]:starts[step]].view(len(idx), -1)
                    logits, mu, log_var = model(x, eps)
                    loss = vae_loss(logits, x, mu, log_var)
                else:
                    loss = F.cross_entropy(forward(model, config, x), y)
                loss.backward()
                opt.step()
            out.write(f"{step},{loss.item():.17e}\n")
    if a.weights:
        save_file(weights(model), a.weights)


if __name__ == "__main__":
    main()
