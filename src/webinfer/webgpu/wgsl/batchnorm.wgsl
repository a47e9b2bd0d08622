// BATCHNORM (inference): y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], x as [N, C, SPATIAL].
const C = {{C}};
const SPATIAL = {{SPATIAL}};
const EPS = {{EPS}};

fn element(i: u32) {
    let c = (i / SPATIAL) % C;
    st_y(i, (ld_x(i) - ld_mean(c)) / sqrt(ld_variance(c) + EPS) * ld_scale(c) + ld_bias(c));
}
