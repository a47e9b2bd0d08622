// BINARY: y[i] = op(a[i_a], b[i_b]) where i_a, i_b follow the operands' (broadcast) strides.

fn op(a: {{T}}, b: {{T}}) -> {{R}} {
    {{OP}}
}

fn element(i: u32) {
{{INDEX}}
    st_y(i, op(ld_a(i_a), ld_b(i_b)));
}
