package com.mlite.demo;

import android.content.Context;
import android.graphics.Bitmap;

import com.baidu.paddle.lite.MobileConfig;
import com.baidu.paddle.lite.PaddlePredictor;
import com.baidu.paddle.lite.PowerMode;
import com.baidu.paddle.lite.Tensor;
import com.mlite.core.CpuFeatures;
import com.mlite.core.Labels;
import com.mlite.core.ModelConfig;
import com.mlite.core.Postprocess;
import com.mlite.core.Preprocess;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Paddle Lite (Java API) around the pure-Java pre/post-processing in com.mlite.core. */
public final class Classifier implements AutoCloseable {
    public static final class Result {
        public final List<Postprocess.Prediction> top5;
        public final double inferenceMs;

        Result(List<Postprocess.Prediction> top5, double inferenceMs) {
            this.top5 = top5;
            this.inferenceMs = inferenceMs;
        }
    }

    private final ModelConfig config;
    private final Labels labels;
    private PaddlePredictor predictor;

    public Classifier(Context context) throws IOException {
        config = ModelConfig.parse(readAsset(context, "config.json"));
        try (InputStream in = context.getAssets().open("labels.txt")) {
            labels = Labels.read(in);
        }
        if ("fp16".equals(config.precision) && !CpuFeatures.hasFp16(readFile("/proc/cpuinfo"))) {
            // a baked FP16 .nb runs FP16 instructions whatever the CPU: SIGILL on ARMv8.0 cores (Cortex-A53/A72)
            throw new IOException(config.model + " is an FP16 model and this phone's CPU has no ARMv8.2 FP16 "
                    + "arithmetic (no asimdhp in /proc/cpuinfo): package the FP32 or INT8 model for it");
        }
        File model = new File(context.getFilesDir(), "model.nb");
        copyAsset(context, "model.nb", model);          // MobileConfig reads a file path
        MobileConfig mc = new MobileConfig();
        mc.setModelFromFile(model.getAbsolutePath());
        mc.setThreads(config.threads);
        mc.setPowerMode(PowerMode.valueOf(config.powerMode));
        predictor = PaddlePredictor.createPaddlePredictor(mc);
    }

    public ModelConfig config() {
        return config;
    }

    public Result classify(Bitmap bitmap) {
        int w = bitmap.getWidth();
        int h = bitmap.getHeight();
        int[] argb = new int[w * h];
        bitmap.getPixels(argb, 0, w, 0, 0, w, h);
        float[] input = Preprocess.toTensor(argb, w, h, config);
        Tensor t = predictor.getInput(0);
        t.resize(new long[]{1, 3, config.inputSize, config.inputSize});
        t.setData(input);
        long start = System.nanoTime();
        predictor.run();
        double ms = (System.nanoTime() - start) / 1e6;
        float[] logits = predictor.getOutput(0).getFloatData();
        return new Result(Postprocess.topK(logits, 5, labels), ms);
    }

    @Override
    public void close() {
        predictor = null;
    }

    private static String readAsset(Context context, String name) throws IOException {
        try (InputStream in = context.getAssets().open(name)) {
            byte[] buf = new byte[in.available()];
            int n = 0;
            while (n < buf.length) {
                int r = in.read(buf, n, buf.length - n);
                if (r < 0) {
                    break;
                }
                n += r;
            }
            return new String(buf, 0, n, StandardCharsets.UTF_8);
        }
    }

    /** A /proc file: its size reads as 0, so read to the end. */
    private static String readFile(String path) throws IOException {
        try (InputStream in = new FileInputStream(path)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 14];
            int r;
            while ((r = in.read(buf)) > 0) {
                out.write(buf, 0, r);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }

    private static void copyAsset(Context context, String name, File dest) throws IOException {
        try (InputStream in = context.getAssets().open(name); OutputStream out = new FileOutputStream(dest)) {
            byte[] buf = new byte[1 << 16];
            int r;
            while ((r = in.read(buf)) > 0) {
                out.write(buf, 0, r);
            }
        }
    }
}
