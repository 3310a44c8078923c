package com.mlite.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.IOException;
import org.junit.Test;

public class ModelConfigTest {
    @Test
    public void parsesWhatMlitePackageWrites() throws IOException {
        ModelConfig c = PreprocessParityTest.config();
        assertEquals("MobileNetV3_small_x1_0", c.model);
        assertEquals(224, c.inputSize);
        assertEquals(256, c.resizeShort);
        assertEquals(1000, c.numClasses);
        assertEquals(2, c.threads);
        assertEquals("LITE_POWER_HIGH", c.powerMode);
        assertArrayEquals(new float[]{0.485f, 0.456f, 0.406f}, c.mean, 0f);
        assertEquals((float) (1.0 / 255.0), c.scale, 0f);
    }

    @Test(expected = IllegalArgumentException.class)
    public void missingKeyIsAnError() {
        ModelConfig.parse("{\"model\": \"x\", \"num_classes\": 10}");
    }

    @Test(expected = IllegalArgumentException.class)
    public void trailingGarbageIsAnError() {
        ModelConfig.parse("{\"model\": \"x\"} extra");
    }

    @Test
    public void escapesAndNesting() {
        ModelConfig c = ModelConfig.parse("{\"model\": \"a\\\"b\\u0041\", \"num_classes\": 3, \"threads\": 4, \"x\": [true, null, {}],"
                + " \"preprocess\": {\"crop\": 32, \"resize_short\": 37, \"scale\": 0.5, \"mean\": [0,0,0], \"std\": [1,1,1]}}");
        assertEquals("a\"bA", c.model);
        assertEquals(32, c.inputSize);
        assertEquals(4, c.threads);
    }
}
