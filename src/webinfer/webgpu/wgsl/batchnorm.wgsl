// BATCHNORM (inference): y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], x as [N, C, SPATIAL].
const N = {{N}};
const C = {{C}};
const SPATIAL = {{SPATIAL}};
const EPS = {{EPS}};

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
    let c = (i / SPATIAL) % C;
    st_y(i, (ld_x(i) - ld_mean(c)) / sqrt(ld_variance(c) + EPS) * ld_scale(c) + ld_bias(c));
}
