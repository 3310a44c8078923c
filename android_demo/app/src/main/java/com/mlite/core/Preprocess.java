package com.mlite.core;

/**
 * PaddleClas's eval preprocessing, exactly as mlite's Python ({@code quant/data.py}) does it:
 * resize the short side (bilinear, half-pixel centres, edge clamp, no antialias), centre-crop,
 * scale, normalize with mean/std, HWC to CHW. Input: ARGB pixels (Android's Bitmap.getPixels,
 * Java's BufferedImage.getRGB).
 */
public final class Preprocess {
    private Preprocess() {
    }

    /** Python's round() (half to even), which mlite uses for the resized size. */
    static int roundHalfEven(double v) {
        return (int) Math.rint(v);
    }

    public static float[] toTensor(int[] argb, int width, int height, ModelConfig cfg) {
        if (argb.length != width * height) {
            throw new IllegalArgumentException("pixel buffer does not match " + width + "x" + height);
        }
        int crop = cfg.inputSize;
        double ratio = cfg.resizeShort / (double) Math.min(height, width);
        int newH = Math.max(crop, roundHalfEven(height * ratio));
        int newW = Math.max(crop, roundHalfEven(width * ratio));
        int top = (newH - crop) / 2;
        int left = (newW - crop) / 2;
        Axis ay = new Axis(newH, height);
        Axis ax = new Axis(newW, width);
        float[] mean = new float[3];
        float[] std = new float[3];
        for (int c = 0; c < 3; c++) {
            mean[c] = cfg.mean[c] / cfg.scale;
            std[c] = cfg.std[c] / cfg.scale;
        }
        float[] out = new float[3 * crop * crop];
        int plane = crop * crop;
        for (int y = 0; y < crop; y++) {
            int oy = y + top;
            int r0 = ay.lo[oy] * width;
            int r1 = ay.hi[oy] * width;
            float wy = ay.w[oy];
            for (int x = 0; x < crop; x++) {
                int ox = x + left;
                int c0 = ax.lo[ox];
                int c1 = ax.hi[ox];
                float wx = ax.w[ox];
                int p00 = argb[r0 + c0], p01 = argb[r0 + c1], p10 = argb[r1 + c0], p11 = argb[r1 + c1];
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c;          // R, G, B
                    float v00 = (p00 >> shift) & 0xFF, v01 = (p01 >> shift) & 0xFF;
                    float v10 = (p10 >> shift) & 0xFF, v11 = (p11 >> shift) & 0xFF;
                    float topV = v00 * (1f - wx) + v01 * wx;
                    float bottomV = v10 * (1f - wx) + v11 * wx;
                    float v = topV * (1f - wy) + bottomV * wy;
                    out[c * plane + y * crop + x] = (v - mean[c]) / std[c];
                }
            }
        }
        return out;
    }

    /** Source indices and weights along one axis (positions computed in double, weights in float). */
    static final class Axis {
        final int[] lo;
        final int[] hi;
        final float[] w;

        Axis(int nOut, int nIn) {
            lo = new int[nOut];
            hi = new int[nOut];
            w = new float[nOut];
            double step = nIn / (double) nOut;
            for (int i = 0; i < nOut; i++) {
                double pos = (i + 0.5) * step - 0.5;
                pos = Math.min(Math.max(pos, 0.0), nIn - 1);
                int l = (int) Math.floor(pos);
                lo[i] = l;
                hi[i] = Math.min(l + 1, nIn - 1);
                w[i] = (float) (pos - l);
            }
        }
    }
}
