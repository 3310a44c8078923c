package com.mlite.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** labels.txt: one class name per line, line i = class i. */
public final class Labels {
    private final List<String> names;

    private Labels(List<String> names) {
        this.names = names;
    }

    public static Labels read(InputStream in) throws IOException {
        List<String> names = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (!line.trim().isEmpty()) {
                    names.add(line.trim());
                }
            }
        }
        if (names.isEmpty()) {
            throw new IOException("labels.txt is empty");
        }
        return new Labels(names);
    }

    public int size() {
        return names.size();
    }

    public String get(int index) {
        return index >= 0 && index < names.size() ? names.get(index) : "class " + index;
    }
}
