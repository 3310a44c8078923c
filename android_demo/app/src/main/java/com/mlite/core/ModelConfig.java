package com.mlite.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The app's config.json (written by {@code mlite package --android}): input size, preprocessing,
 * threads and power mode. Parsed with a small JSON reader so the class runs on a plain JVM.
 */
public final class ModelConfig {
    public final String model;
    public final String precision;
    public final int inputSize;
    public final int resizeShort;
    public final float scale;
    public final float[] mean;
    public final float[] std;
    public final int numClasses;
    public final int threads;
    public final String powerMode;

    public ModelConfig(String model, String precision, int inputSize, int resizeShort, float scale, float[] mean,
                       float[] std, int numClasses, int threads, String powerMode) {
        if (inputSize <= 0 || resizeShort < inputSize) {
            throw new IllegalArgumentException("config: need 0 < input_size <= resize_short");
        }
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("config: mean and std need 3 values (RGB)");
        }
        this.model = model;
        this.precision = precision;
        this.inputSize = inputSize;
        this.resizeShort = resizeShort;
        this.scale = scale;
        this.mean = mean;
        this.std = std;
        this.numClasses = numClasses;
        this.threads = threads;
        this.powerMode = powerMode;
    }

    public static ModelConfig parse(String json) {
        Map<String, Object> m = Json.parseObject(json);
        Map<?, ?> pre = (Map<?, ?>) require(m, "preprocess");
        return new ModelConfig(
                (String) require(m, "model"), (String) orDefault(m, "precision", "fp32"),
                ((Number) require(pre, "crop")).intValue(), ((Number) require(pre, "resize_short")).intValue(),
                ((Number) require(pre, "scale")).floatValue(), floats(require(pre, "mean")),
                floats(require(pre, "std")), ((Number) require(m, "num_classes")).intValue(),
                ((Number) orDefault(m, "threads", 2)).intValue(), (String) orDefault(m, "power_mode", "LITE_POWER_HIGH"));
    }

    /** Map.getOrDefault needs Android API 24; the app supports API 21. */
    private static Object orDefault(Map<?, ?> m, String key, Object fallback) {
        Object v = m.get(key);
        return v == null ? fallback : v;
    }

    private static Object require(Map<?, ?> m, String key) {
        Object v = m.get(key);
        if (v == null) {
            throw new IllegalArgumentException("config.json lacks \"" + key + "\"");
        }
        return v;
    }

    private static float[] floats(Object o) {
        List<?> l = (List<?>) o;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).floatValue();
        }
        return out;
    }

    /** Minimal JSON reader: objects, arrays, strings, numbers, true/false/null. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> parseObject(String text) {
            Json j = new Json(text);
            Object v = j.value();
            j.ws();
            if (!(v instanceof Map) || j.i != j.s.length()) {
                throw new IllegalArgumentException("config.json is not one JSON object");
            }
            return (Map<String, Object>) v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw new IllegalArgumentException("config.json ends early");
            }
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect('}');
                        return m;
                    }
                }
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect(']');
                        return l;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (start == i) {
                throw new IllegalArgumentException("config.json: unexpected '" + c + "' at " + i);
            }
            return Double.parseDouble(s.substring(start, i));
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (s.charAt(i) != '"') {
                char c = s.charAt(i++);
                if (c == '\\') {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n': b.append('\n'); break;
                        case 't': b.append('\t'); break;
                        case 'r': b.append('\r'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                        default: b.append(e);
                    }
                } else {
                    b.append(c);
                }
            }
            i++;
            return b.toString();
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw new IllegalArgumentException("config.json: expected '" + c + "' at " + i);
            }
            i++;
        }
    }
}
