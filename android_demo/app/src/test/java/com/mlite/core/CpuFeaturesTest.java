package com.mlite.core;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class CpuFeaturesTest {
    private static final String KRYO_485 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
            + "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0x805\n\n"
            + "processor\t: 7\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
            + "asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0x804\n";
    private static final String CORTEX_A53 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
            + "cpuid\nCPU part\t: 0xd03\n";

    @Test
    public void snapdragon855HasFp16() {
        assertTrue(CpuFeatures.hasFp16(KRYO_485));
    }

    @Test
    public void cortexA53HasNot() {
        assertFalse(CpuFeatures.hasFp16(CORTEX_A53));
    }

    @Test
    public void oneCoreWithoutItIsEnoughToRefuse() {
        assertFalse(CpuFeatures.hasFp16(KRYO_485 + "\nprocessor\t: 8\n" + CORTEX_A53));
    }

    @Test
    public void noFeaturesLineIsNotFp16() {
        assertFalse(CpuFeatures.hasFp16("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 f16c\n"));
        assertFalse(CpuFeatures.hasFp16(""));
    }
}
