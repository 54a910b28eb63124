//! The rules a config's values must follow, section by section ([`DataConfig`], each model's
//! spec, [`TrainConfig`]) and then across sections ([`RunConfig`]). Every error names the key, the
//! value and the rule, and where the key came from (the file or the `--set`).

use crate::model::{
    AutoencoderSpec, CnnSpec, DcganSpec, GanSpec, Lenet5Spec, MlpSpec, ModelConfig, PcaSpec,
    RbmSpec, Units, VaeSpec,
};
use crate::{
    Activation, DataConfig, EngineName, FloatDtype, LossKind, OptimizerName, Result, RunConfig,
    Sources, TrainConfig,
};

/// The checks shared by every section, each failing with the key's source.
pub(crate) struct Rules<'a> {
    src: &'a Sources<'a>,
}

impl<'a> Rules<'a> {
    pub(crate) fn new(src: &'a Sources<'a>) -> Self {
        Self { src }
    }

    fn fail<T>(&self, key: &str, value: &dyn std::fmt::Display, rule: &str) -> Result<T> {
        Err(self.src.fail(key, value, rule))
    }

    /// In `[0, 1)`: a rate or a moment's decay.
    fn unit(&self, key: &str, v: f64) -> Result<()> {
        if (0.0..1.0).contains(&v) {
            Ok(())
        } else {
            self.fail(key, &v, "must be in [0, 1)")
        }
    }

    fn positive(&self, key: &str, v: f64) -> Result<()> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            self.fail(key, &v, "must be a finite number > 0")
        }
    }

    fn non_negative(&self, key: &str, v: f64) -> Result<()> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            self.fail(key, &v, "must be a finite number >= 0")
        }
    }

    fn at_least_one(&self, key: &str, v: usize) -> Result<()> {
        if v == 0 {
            self.fail(key, &0, "must be at least 1")
        } else {
            Ok(())
        }
    }

    fn widths(&self, key: &str, ws: &[usize]) -> Result<()> {
        match ws.iter().position(|&w| w == 0) {
            Some(i) => self.fail(
                &format!("{key}[{i}]"),
                &0,
                "layer widths must be at least 1",
            ),
            None => Ok(()),
        }
    }
}

/// A name usable as a folder: letters, digits, `_`, `-`, `.`, and not `.` or `..`.
fn folder_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl DataConfig {
    pub(crate) fn validate(&self, r: &Rules) -> Result<()> {
        if !folder_name(&self.dataset) {
            return r.fail(
                "data.dataset",
                &format!("{:?}", self.dataset),
                "must be a dataset folder name (letters, digits, '_', '-', '.')",
            );
        }
        r.unit("data.validation", self.validation)?;
        for (key, limit) in [
            ("data.limit_train", self.limit_train),
            ("data.limit_test", self.limit_test),
        ] {
            if limit == Some(0) {
                return r.fail(key, &0, "must be at least 1 (omit it for all)");
            }
        }
        Ok(())
    }
}

impl MlpSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.widths("model.hidden", &self.hidden)?;
        if !self.dropout.is_empty() && self.dropout.len() != self.hidden.len() {
            return r.fail(
                "model.dropout",
                &format!("{:?}", self.dropout),
                &format!(
                    "needs one rate per hidden layer ({} for model.hidden = {:?}), or [] for none",
                    self.hidden.len(),
                    self.hidden
                ),
            );
        }
        for (i, &p) in self.dropout.iter().enumerate() {
            r.unit(&format!("model.dropout[{i}]"), p)?;
        }
        if self.maxout_pieces > 0 {
            if self.maxout_pieces == 1 {
                return r.fail(
                    "model.maxout_pieces",
                    &1,
                    "one piece makes a linear unit: use 2 or more pieces, or 0 for model.activation",
                );
            }
            if self.hidden.is_empty() {
                return r.fail(
                    "model.maxout_pieces",
                    &self.maxout_pieces,
                    "needs hidden layers (model.hidden = [] has no units to make maxout units)",
                );
            }
            if self.activation != Activation::Relu {
                return r.fail(
                    "model.activation",
                    &self.activation.name(),
                    "is not used by maxout units (model.maxout_pieces > 0), which are their own activation: leave it out",
                );
            }
        }
        r.unit("model.input_dropout", self.input_dropout)
    }
}

impl CnnSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        if self.channels.is_empty() {
            return r.fail("model.channels", &"[]", "needs at least one convolution");
        }
        r.widths("model.channels", &self.channels)?;
        r.widths("model.dense", &self.dense)?;
        r.at_least_one("model.kernel", self.kernel)?;
        if self.padding.len() != self.channels.len() {
            return r.fail(
                "model.padding",
                &format!("{:?}", self.padding),
                &format!(
                    "needs one padding per convolution ({} for model.channels = {:?})",
                    self.channels.len(),
                    self.channels
                ),
            );
        }
        r.unit("model.dropout", self.dropout)
    }
}

impl AutoencoderSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.widths("model.encoder", &self.encoder)?;
        r.at_least_one("model.code", self.code)?;
        if let Some(b) = self.pretrain_batch_size {
            r.at_least_one("model.pretrain_batch_size", b)?;
            if self.pretrain_epochs == 0 {
                return r.fail(
                    "model.pretrain_batch_size",
                    &b,
                    "sets the pretraining's batches; set model.pretrain_epochs > 0 too",
                );
            }
        }
        if self.pretrain_epochs > 0 {
            // Each layer is pretrained as an RBM: logistic hidden layers are its binary units,
            // a linear code its Gaussian ones, a logistic code binary ones.
            if self.activation != Activation::Sigmoid {
                return r.fail(
                    "model.activation",
                    &self.activation.name(),
                    "must be \"sigmoid\" when model.pretrain_epochs > 0 (the RBMs' binary units)",
                );
            }
            if !matches!(
                self.code_activation,
                Activation::Sigmoid | Activation::Identity
            ) {
                return r.fail(
                    "model.code_activation",
                    &self.code_activation.name(),
                    "must be \"identity\" (Gaussian units) or \"sigmoid\" (binary units) when model.pretrain_epochs > 0",
                );
            }
        }
        Ok(())
    }
}

impl PcaSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.at_least_one("model.components", self.components)
    }
}

impl VaeSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.widths("model.hidden", &self.hidden)?;
        r.at_least_one("model.latent", self.latent)
    }
}

impl GanSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.widths("model.generator", &self.generator)?;
        r.widths("model.discriminator", &self.discriminator)?;
        r.at_least_one("model.latent", self.latent)?;
        r.unit("model.dropout", self.dropout)?;
        r.unit("model.input_dropout", self.input_dropout)?;
        r.non_negative("model.generator_init", self.generator_init)?;
        r.non_negative("model.max_col_norm", self.max_col_norm)?;
        r.positive("model.d_loss_scale", self.d_loss_scale)?;
        r.non_negative("model.discriminator_init", self.discriminator_init)?;
        if self.maxout_pieces == 1 {
            return r.fail(
                "model.maxout_pieces",
                &1,
                "a maxout unit of one piece is a linear unit: set 2 or more, or 0 for leaky ReLU",
            );
        }
        if self.shared_dropout_masks && !self.simultaneous {
            return r.fail(
                "model.shared_dropout_masks",
                &true,
                "masks are shared between the two networks' losses only when they step at once: \
                 set `model.simultaneous = true` too",
            );
        }
        Ok(())
    }
}

impl DcganSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.at_least_one("model.latent", self.latent)?;
        r.at_least_one("model.g_features", self.g_features)?;
        r.at_least_one("model.d_features", self.d_features)
    }
}

impl RbmSpec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.at_least_one("model.hidden", self.hidden)?;
        r.at_least_one("model.cd_k", self.cd_k)?;
        r.unit("model.momentum", self.momentum)?;
        if let Some(end) = self.momentum_final {
            r.unit("model.momentum_final", end)?;
            r.at_least_one("model.momentum_epochs", self.momentum_epochs)?;
        }
        if self.visible_units == Units::Gaussian && self.hidden_units == Units::Gaussian {
            return r.fail(
                "model.hidden_units",
                &"gaussian",
                "cannot be \"gaussian\" with model.visible_units = \"gaussian\" (the joint density has no normaliser)",
            );
        }
        Ok(())
    }
}

impl Lenet5Spec {
    fn validate(&self, r: &Rules) -> Result<()> {
        r.positive("model.sdlm_mu", self.sdlm_mu)?;
        r.at_least_one("model.sdlm_samples", self.sdlm_samples)?;
        r.at_least_one("model.sdlm_every", self.sdlm_every)?;
        if self.sdlm_exact && self.sdlm_layerwise {
            return r.fail(
                "model.sdlm_layerwise",
                &true,
                "the paper's curvature replaces the Gauss-Newton diagonal: not with model.sdlm_exact = true",
            );
        }
        r.positive("model.map_j", self.map_j)
    }
}

impl ModelConfig {
    pub(crate) fn validate(&self, r: &Rules) -> Result<()> {
        match self {
            Self::Mlp(m) => m.validate(r),
            Self::Cnn(c) => c.validate(r),
            Self::Autoencoder(a) => a.validate(r),
            Self::Pca(p) => p.validate(r),
            Self::Vae(v) => v.validate(r),
            Self::Gan(g) => g.validate(r),
            Self::Dcgan(g) => g.validate(r),
            Self::Rbm(m) => m.validate(r),
            Self::Lenet5(m) => m.validate(r),
        }
    }
}

impl TrainConfig {
    /// `lr_boundaries` and `lr_factors` go together, with the `piecewise` schedule only.
    fn validate_piecewise(&self, r: &Rules) -> Result<()> {
        let piecewise = self.schedule == crate::ScheduleName::Piecewise;
        let given = !self.lr_boundaries.is_empty() || !self.lr_factors.is_empty();
        if given && !piecewise {
            return r.fail(
                "train.lr_boundaries",
                &format!("{:?}", self.lr_boundaries),
                "applies to schedule = \"piecewise\" only",
            );
        }
        if !piecewise {
            return Ok(());
        }
        if self.lr_boundaries.is_empty() || self.lr_boundaries.len() != self.lr_factors.len() {
            return r.fail(
                "train.lr_factors",
                &format!("{:?}", self.lr_factors),
                &format!(
                    "needs one factor per boundary of train.lr_boundaries ({:?}), at least one",
                    self.lr_boundaries
                ),
            );
        }
        if self.lr_boundaries.windows(2).any(|w| w[0] >= w[1]) || self.lr_boundaries[0] == 0 {
            return r.fail(
                "train.lr_boundaries",
                &format!("{:?}", self.lr_boundaries),
                "must be increasing epochs after epoch 0",
            );
        }
        for (i, f) in self.lr_factors.iter().enumerate() {
            r.positive(&format!("train.lr_factors[{i}]"), *f)?;
        }
        Ok(())
    }

    pub(crate) fn validate(&self, r: &Rules) -> Result<()> {
        r.at_least_one("train.epochs", self.epochs)?;
        r.at_least_one("train.batch_size", self.batch_size)?;
        r.positive("train.lr", self.lr)?;
        r.non_negative("train.weight_decay", self.weight_decay)?;
        self.validate_optimizer(r)?;
        r.at_least_one("train.step_epochs", self.step_epochs)?;
        self.validate_piecewise(r)?;
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return r.fail("train.gamma", &self.gamma, "must be in (0, 1]");
        }
        if !(self.lr_min >= 0.0 && self.lr_min < self.lr) {
            return r.fail("train.lr_min", &self.lr_min, "must be in [0, train.lr)");
        }
        if let Some(es) = &self.early_stopping {
            if !es.monitor.starts_with("valid_") {
                return r.fail(
                    "train.early_stopping.monitor",
                    &format!("{:?}", es.monitor),
                    "must be a validation column of metrics.csv, e.g. \"valid_loss\" or \"valid_accuracy\"",
                );
            }
            r.non_negative("train.early_stopping.min_delta", es.min_delta)?;
        }
        r.at_least_one("train.eval_batch_size", self.eval_batch_size)?;
        if self.devices.len() > 1 && self.batch_size < self.devices.len() {
            return r.fail(
                "train.devices",
                &format!("{:?}", self.devices),
                &format!(
                    "each device needs at least one example of a batch; train.batch_size = {} is smaller",
                    self.batch_size
                ),
            );
        }
        r.at_least_one("train.log_every", self.log_every)
    }

    /// Only the chosen optimizer's section, and its values in range.
    fn validate_optimizer(&self, r: &Rules) -> Result<()> {
        let chosen = self.optimizer.name();
        for (section, present) in self.sections() {
            if present && section != chosen {
                return r.fail(
                    &format!("train.{section}"),
                    &"{ ... }",
                    &format!(
                        "these settings apply to optimizer = \"{section}\", but train.optimizer = \"{chosen}\""
                    ),
                );
            }
        }
        if let Some(s) = &self.sgd {
            r.unit("train.sgd.momentum", s.momentum)?;
            if let Some(end) = s.momentum_final {
                r.unit("train.sgd.momentum_final", end)?;
                r.at_least_one("train.sgd.momentum_epochs", s.momentum_epochs)?;
                if s.momentum == 0.0 {
                    return r.fail(
                        "train.sgd.momentum_final",
                        &end,
                        "needs train.sgd.momentum > 0 to start from",
                    );
                }
            }
            if s.nesterov && s.momentum == 0.0 {
                return r.fail("train.sgd.nesterov", &true, "needs train.sgd.momentum > 0");
            }
        }
        for (name, adam) in [("adam", &self.adam), ("adamw", &self.adamw)] {
            let Some(a) = adam else { continue };
            r.unit(&format!("train.{name}.beta1"), a.beta1)?;
            r.unit(&format!("train.{name}.beta2"), a.beta2)?;
            r.positive(&format!("train.{name}.epsilon"), a.epsilon)?;
            match (name, a.weight_decay) {
                ("adam", Some(w)) => {
                    return r.fail(
                        "train.adam.weight_decay",
                        &w,
                        "decoupled weight decay is optimizer = \"adamw\"; for L2 weight decay use train.weight_decay",
                    );
                }
                (_, Some(w)) => r.non_negative("train.adamw.weight_decay", w)?,
                _ => {}
            }
        }
        if let Some(s) = &self.rmsprop {
            r.unit("train.rmsprop.rho", s.rho)?;
            r.positive("train.rmsprop.epsilon", s.epsilon)?;
            r.unit("train.rmsprop.momentum", s.momentum)?;
        }
        if let Some(a) = &self.adagrad {
            r.positive("train.adagrad.epsilon", a.epsilon)?;
        }
        if let Some(c) = &self.cg {
            r.at_least_one("train.cg.line_searches", c.line_searches)?;
            r.at_least_one("train.cg.max_evaluations", c.max_evaluations)?;
        }
        Ok(())
    }
}

impl RunConfig {
    /// Every section's rules, then the rules that span sections.
    pub(crate) fn validate_with(&self, r: &Rules) -> Result<()> {
        if !folder_name(&self.name) {
            return r.fail(
                "name",
                &format!("{:?}", self.name),
                "must be a non-empty folder name of letters, digits, '_', '-', '.'",
            );
        }
        self.data.validate(r)?;
        self.model.validate(r)?;
        self.train.validate(r)?;
        self.validate_across(r)
    }

    /// Rules between the model, the data and the training.
    fn validate_across(&self, r: &Rules) -> Result<()> {
        let t = &self.train;
        if matches!(self.model, ModelConfig::Pca(_)) && t.epochs != 1 {
            return r.fail(
                "train.epochs",
                &t.epochs,
                "PCA is fitted in closed form in one pass: set train.epochs = 1",
            );
        }
        if !self.model.is_classifier() && t.loss != LossKind::CrossEntropy {
            return r.fail(
                "train.loss",
                &t.loss.name(),
                &format!(
                    "applies to classifiers; model.kind = \"{}\" has its own loss",
                    self.model.kind()
                ),
            );
        }
        if t.engine == EngineName::Manual {
            self.validate_manual_engine(r)?;
        }
        if t.float_dtype == FloatDtype::F64 {
            if t.engine == EngineName::Manual {
                return r.fail(
                    "train.float_dtype",
                    &"f64",
                    "engine = \"manual\" computes in f32 on the host; f64 runs through burn's autodiff",
                );
            }
            if matches!(self.model, ModelConfig::Pca(_)) {
                return r.fail(
                    "train.float_dtype",
                    &"f64",
                    "model.kind = \"pca\" adds its moments in f64 already and takes no steps",
                );
            }
        }
        if let Some(end) = t.sgd.as_ref().and_then(|s| s.momentum_final)
            && !matches!(self.model, ModelConfig::Gan(_))
        {
            return r.fail(
                "train.sgd.momentum_final",
                &end,
                &format!(
                    "a rising momentum is built for model.kind = \"gan\", not \"{}\"",
                    self.model.kind()
                ),
            );
        }
        if let ModelConfig::Lenet5(m) = &self.model
            && m.sdlm
            && (t.optimizer != OptimizerName::Sgd
                || t.sgd.as_ref().is_some_and(|s| s.momentum > 0.0))
        {
            return r.fail(
                "train.optimizer",
                &t.optimizer.name(),
                "must be \"sgd\" without momentum when model.sdlm = true (its steps are scaled SGD steps)",
            );
        }
        if t.optimizer == OptimizerName::Cg {
            if !matches!(self.model, ModelConfig::Autoencoder(_)) {
                return r.fail(
                    "train.optimizer",
                    &"cg",
                    &format!(
                        "conjugate gradients search along a line on each batch, built for model.kind = \"autoencoder\", not \"{}\"",
                        self.model.kind()
                    ),
                );
            }
            if t.weight_decay > 0.0 {
                return r.fail(
                    "train.weight_decay",
                    &t.weight_decay,
                    "optimizer = \"cg\" minimizes the loss as it is: set 0",
                );
            }
            if t.schedule != crate::ScheduleName::Constant {
                return r.fail(
                    "train.schedule",
                    &format!("{:?}", t.schedule).to_lowercase(),
                    "optimizer = \"cg\" takes no learning rate (its line searches choose each step), so it has no schedule",
                );
            }
            if t.devices.len() > 1 || t.engine != EngineName::Autodiff {
                return r.fail(
                    "train.optimizer",
                    &"cg",
                    "conjugate gradients run on one device with engine = \"autodiff\"",
                );
            }
        }
        if let (ModelConfig::Autoencoder(a), Some(file)) = (&self.model, &t.init_from)
            && a.pretrain_epochs > 0
        {
            return r.fail(
                "train.init_from",
                &format!("{:?}", file.display().to_string()),
                "starts from a file's weights; model.pretrain_epochs would replace them: set one",
            );
        }
        if t.early_stopping.is_some() && self.data.validation == 0.0 {
            return r.fail(
                "train.early_stopping",
                &"{ ... }",
                "needs a validation split: set data.validation, e.g. 0.1",
            );
        }
        if t.devices.len() > 1 {
            let devices = format!("{:?}", t.devices);
            if !self.model.is_classifier() {
                return r.fail(
                    "train.devices",
                    &devices,
                    &format!(
                        "multi-device training covers classifiers (mlp, cnn); model.kind = \"{}\" trains on one device",
                        self.model.kind()
                    ),
                );
            }
            if t.engine == EngineName::Manual {
                return r.fail(
                    "train.devices",
                    &devices,
                    "engine = \"manual\" trains on one device; multi-device training uses burn's autodiff",
                );
            }
        }
        Ok(())
    }

    /// What the hand-written engine implements: MLPs without dropout, SGD (no Nesterov) and
    /// Adam, no weight decay.
    fn validate_manual_engine(&self, r: &Rules) -> Result<()> {
        let t = &self.train;
        if !matches!(t.optimizer, OptimizerName::Sgd | OptimizerName::Adam) {
            return r.fail(
                "train.optimizer",
                &t.optimizer.name(),
                "engine = \"manual\" implements sgd (with or without momentum) and adam",
            );
        }
        if t.sgd.as_ref().is_some_and(|s| s.nesterov) {
            return r.fail(
                "train.sgd.nesterov",
                &true,
                "engine = \"manual\" has no Nesterov momentum",
            );
        }
        if t.weight_decay > 0.0 {
            return r.fail(
                "train.weight_decay",
                &t.weight_decay,
                "engine = \"manual\" has no weight decay",
            );
        }
        let ModelConfig::Mlp(m) = &self.model else {
            return r.fail(
                "train.engine",
                &"\"manual\"",
                &format!(
                    "the hand-written backpropagation covers MLPs; model.kind = \"{}\" trains with engine = \"autodiff\"",
                    self.model.kind()
                ),
            );
        };
        if m.has_dropout() {
            return r.fail(
                "model.dropout",
                &format!("{:?}", m.dropout),
                "engine = \"manual\" has no dropout",
            );
        }
        if m.maxout_pieces > 0 {
            return r.fail(
                "model.maxout_pieces",
                &m.maxout_pieces,
                "engine = \"manual\" has no maxout units",
            );
        }
        Ok(())
    }
}
