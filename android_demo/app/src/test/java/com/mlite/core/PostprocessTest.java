package com.mlite.core;

import static org.junit.Assert.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.Test;

/** Top-5 over a fixed logits vector equals NumPy's (top5.txt). */
public class PostprocessTest {
    @Test
    public void top5MatchesPython() throws IOException {
        String[] lines = new String(PreprocessParityTest.resource("logits.txt"), StandardCharsets.UTF_8).trim().split("\n");
        float[] logits = new float[lines.length];
        for (int i = 0; i < lines.length; i++) {
            logits[i] = Float.parseFloat(lines[i]);
        }
        String[] expected = new String(PreprocessParityTest.resource("top5.txt"), StandardCharsets.UTF_8).trim().split("\n");
        List<Postprocess.Prediction> top = Postprocess.topK(logits, 5, null);
        assertEquals(5, top.size());
        for (int i = 0; i < 5; i++) {
            String[] parts = expected[i].split(" ");
            assertEquals(Integer.parseInt(parts[0]), top.get(i).index);
            assertEquals(Double.parseDouble(parts[1]), top.get(i).probability, 1e-6);
        }
    }

    @Test
    public void softmaxSumsToOneAndIsStable() {
        float[] p = Postprocess.softmax(new float[]{1000f, 1000f, -1000f});
        assertEquals(0.5f, p[0], 1e-6f);
        assertEquals(0.5f, p[1], 1e-6f);
        assertEquals(0f, p[2], 1e-6f);
    }

    @Test
    public void labelsAreUsedAndKIsCapped() throws IOException {
        Labels labels = Labels.read(new ByteArrayInputStream("cat\n\ndog\n".getBytes(StandardCharsets.UTF_8)));
        assertEquals(2, labels.size());
        List<Postprocess.Prediction> top = Postprocess.topK(new float[]{0.1f, 2f}, 5, labels);
        assertEquals(2, top.size());
        assertEquals("dog", top.get(0).label);
        assertEquals("class 7", labels.get(7));
    }

    @Test(expected = IOException.class)
    public void emptyLabelsAreRefused() throws IOException {
        Labels.read(new ByteArrayInputStream(new byte[0]));
    }
}
