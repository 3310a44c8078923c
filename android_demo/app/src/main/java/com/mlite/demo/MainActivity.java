package com.mlite.demo;

import android.app.Activity;
import android.content.Intent;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import android.os.Bundle;
import android.provider.MediaStore;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.TextView;

import com.mlite.core.Postprocess;

import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Pick a gallery image or take a photo; show the top-5 classes with probabilities and inference time. */
public class MainActivity extends Activity {
    private static final int PICK_IMAGE = 1;
    private static final int TAKE_PHOTO = 2;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private Classifier classifier;
    private ImageView image;
    private TextView result;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        image = findViewById(R.id.image);
        result = findViewById(R.id.result);
        Button gallery = findViewById(R.id.gallery);
        Button camera = findViewById(R.id.camera);
        gallery.setOnClickListener(v -> startActivityForResult(
                new Intent(Intent.ACTION_GET_CONTENT).setType("image/*"), PICK_IMAGE));
        camera.setOnClickListener(v -> startActivityForResult(new Intent(MediaStore.ACTION_IMAGE_CAPTURE), TAKE_PHOTO));
        result.setText(R.string.loading);
        worker.execute(() -> {
            try {
                classifier = new Classifier(this);
                runOnUiThread(() -> result.setText(getString(R.string.ready, classifier.config().model,
                        classifier.config().precision)));
            } catch (IOException | RuntimeException e) {
                runOnUiThread(() -> result.setText(getString(R.string.load_failed, e.getMessage())));
            }
        });
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        if (resultCode != RESULT_OK || data == null || classifier == null) {
            return;
        }
        Bitmap bitmap = null;
        if (requestCode == TAKE_PHOTO && data.getExtras() != null) {
            bitmap = (Bitmap) data.getExtras().get("data");
        } else if (requestCode == PICK_IMAGE && data.getData() != null) {
            bitmap = decode(data.getData());
        }
        if (bitmap == null) {
            result.setText(R.string.no_image);
            return;
        }
        image.setImageBitmap(bitmap);
        final Bitmap input = bitmap.copy(Bitmap.Config.ARGB_8888, false);
        worker.execute(() -> {
            Classifier.Result r = classifier.classify(input);
            StringBuilder b = new StringBuilder(String.format(Locale.US, "%.1f ms\n", r.inferenceMs));
            for (Postprocess.Prediction p : r.top5) {
                b.append(String.format(Locale.US, "%5.1f%%  %s\n", p.probability * 100, p.label));
            }
            runOnUiThread(() -> result.setText(b.toString()));
        });
    }

    private Bitmap decode(Uri uri) {
        try (InputStream in = getContentResolver().openInputStream(uri)) {
            return BitmapFactory.decodeStream(in);
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    protected void onDestroy() {
        worker.shutdown();
        super.onDestroy();
    }
}
