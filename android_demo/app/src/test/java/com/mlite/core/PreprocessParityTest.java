package com.mlite.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import javax.imageio.ImageIO;
import org.junit.Test;

/** The Java input tensor equals mlite's Python preprocessing (tensor.f32) within 1e-5. */
public class PreprocessParityTest {
    static byte[] resource(String name) throws IOException {
        try (InputStream in = PreprocessParityTest.class.getResourceAsStream("/parity/" + name)) {
            if (in == null) {
                throw new IOException("missing test resource parity/" + name);
            }
            return in.readAllBytes();
        }
    }

    static ModelConfig config() throws IOException {
        return ModelConfig.parse(new String(resource("config.json"), StandardCharsets.UTF_8));
    }

    @Test
    public void tensorMatchesPython() throws IOException {
        BufferedImage img = ImageIO.read(PreprocessParityTest.class.getResourceAsStream("/parity/image.png"));
        int w = img.getWidth();
        int h = img.getHeight();
        int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
        float[] java = Preprocess.toTensor(argb, w, h, config());
        ByteBuffer buf = ByteBuffer.wrap(resource("tensor.f32")).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(3 * 224 * 224, java.length);
        assertEquals(java.length * 4, buf.capacity());
        float maxDiff = 0f;
        for (int i = 0; i < java.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(java[i] - buf.getFloat(i * 4)));
        }
        assertTrue("max |java - python| = " + maxDiff, maxDiff <= 1e-5f);
    }

    @Test
    public void roundsHalfToEvenLikePython() {
        assertEquals(2, Preprocess.roundHalfEven(2.5));
        assertEquals(4, Preprocess.roundHalfEven(3.5));
        assertEquals(3, Preprocess.roundHalfEven(2.5000001));
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsMismatchedBuffer() throws IOException {
        Preprocess.toTensor(new int[10], 4, 4, config());
    }

    @Test
    public void uniformImageNormalizesToKnownValues() throws IOException {
        int[] red = new int[300 * 400];
        java.util.Arrays.fill(red, 0xFFFF0000);
        float[] t = Preprocess.toTensor(red, 400, 300, config());
        assertEquals((1f - 0.485f) / 0.229f, t[0], 1e-5f);
        assertEquals((0f - 0.456f) / 0.224f, t[224 * 224], 1e-5f);
        assertEquals((0f - 0.406f) / 0.225f, t[2 * 224 * 224 + 5], 1e-5f);
    }
}
