package com.mlite.core;

/** What /proc/cpuinfo says about the CPU's ARMv8.2 FP16 arithmetic (needed by a baked FP16 .nb). */
public final class CpuFeatures {
    private CpuFeatures() {
    }

    /**
     * True when every core's "Features" line lists both fphp and asimdhp (FP16 scalar and vector
     * arithmetic). False when a core lacks them or no Features line is present: Paddle Lite's FP16
     * kernels would then die with SIGILL, so the app refuses the model instead.
     */
    public static boolean hasFp16(String cpuinfo) {
        boolean seen = false;
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0 || !line.substring(0, colon).trim().equals("Features")) {
                continue;
            }
            seen = true;
            boolean fphp = false;
            boolean asimdhp = false;
            for (String f : line.substring(colon + 1).trim().split("\\s+")) {
                fphp |= f.equals("fphp");
                asimdhp |= f.equals("asimdhp");
            }
            if (!(fphp && asimdhp)) {
                return false;
            }
        }
        return seen;
    }
}
