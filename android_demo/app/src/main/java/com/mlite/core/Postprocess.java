package com.mlite.core;

import java.util.ArrayList;
import java.util.List;

/** Softmax and top-k over a logits vector. */
public final class Postprocess {
    private Postprocess() {
    }

    public static final class Prediction {
        public final int index;
        public final float probability;
        public final String label;

        Prediction(int index, float probability, String label) {
            this.index = index;
            this.probability = probability;
            this.label = label;
        }
    }

    public static float[] softmax(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] p = new float[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) (e[i] / sum);
        }
        return p;
    }

    /** The k most probable classes, highest first (ties: lower index first). */
    public static List<Prediction> topK(float[] logits, int k, Labels labels) {
        float[] p = softmax(logits);
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> p[a] != p[b] ? Float.compare(p[b], p[a]) : Integer.compare(a, b));
        List<Prediction> out = new ArrayList<>();
        for (int i = 0; i < Math.min(k, p.length); i++) {
            int idx = order[i];
            out.add(new Prediction(idx, p[idx], labels == null ? String.valueOf(idx) : labels.get(idx)));
        }
        return out;
    }
}
