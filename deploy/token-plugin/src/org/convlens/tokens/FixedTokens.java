package org.convlens.tokens;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.regex.Pattern;
import org.pytorch.serve.servingsdk.ModelServerEndpoint;

/**
 * TorchServe 0.12 plugin: replaces the random tokens that TorchServe generates at start with fixed ones read from
 * files, so that every replica behind a load balancer accepts the same token (e.g. a Kubernetes Secret volume).
 *
 * <p>TorchServe has no option for this: it writes random keys to key_file.json and never reads that file. Plugins
 * on plugins_path are instantiated by ServiceLoader right after TokenAuthorization.init() and before any listener
 * opens, so the constructor swaps the keys before the first request can arrive. The class declares no endpoint
 * annotation, so TorchServe registers no route for it.
 *
 * <p>CONVLENS_TOKEN_DIR names a directory holding the files "inference" and "management" (required) and "api"
 * (optional; the key for GET /token). Unset: TorchServe's own random tokens stay. Set but unusable: the server
 * exits, so a misconfigured pod never serves with tokens nobody knows.
 */
public final class FixedTokens extends ModelServerEndpoint {
    private static final String TOKEN_CLASS = "org.pytorch.serve.util.TokenAuthorization";
    private static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9._~+/=-]{16,256}");
    // Fixed tokens are rotated by changing the Secret and rolling the pods, not by TorchServe's TTL.
    private static final Instant NEVER = Instant.parse("9999-12-31T23:59:59Z");
    private static boolean applied;

    public FixedTokens() {
        apply();
    }

    private static synchronized void apply() {
        String dir = System.getenv("CONVLENS_TOKEN_DIR");
        if (applied || dir == null || dir.isEmpty()) {
            return;
        }
        try {
            Class<?> auth = Class.forName(TOKEN_CLASS);
            if (!Boolean.TRUE.equals(get(auth, "tokenAuthEnabled"))) {
                fail("token authorization is off; refusing to load fixed tokens");
            }
            String inference = read(Paths.get(dir, "inference"), true);
            String management = read(Paths.get(dir, "management"), true);
            String api = read(Paths.get(dir, "api"), false);
            if (inference.equals(management)) {
                fail("the inference and management tokens must differ");
            }
            set(auth, "inferenceKey", inference);
            set(auth, "inferenceExpirationTimeMinutes", NEVER);
            set(auth, "managementKey", management);
            set(auth, "managementExpirationTimeMinutes", NEVER);
            if (api != null) {
                set(auth, "apiKey", api);
            }
            writeKeyFile((String) get(auth, "keyFilePath"), inference, management, (String) get(auth, "apiKey"));
            applied = true;
            System.err.println("ConvLens: fixed tokens loaded from " + dir);
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            fail("cannot load fixed tokens from " + dir + ": " + e);
        }
    }

    private static String read(Path path, boolean required) throws IOException {
        if (!Files.exists(path)) {
            if (required) {
                fail("missing token file " + path);
            }
            return null;
        }
        String token = new String(Files.readAllBytes(path), StandardCharsets.UTF_8).trim();
        if (!TOKEN.matcher(token).matches()) {
            fail(path + " must hold 16 to 256 characters from [A-Za-z0-9._~+/=-]");
        }
        return token;
    }

    private static Object get(Class<?> auth, String name) throws ReflectiveOperationException {
        Field field = auth.getDeclaredField(name);
        field.setAccessible(true);
        return field.get(null);
    }

    private static void set(Class<?> auth, String name, Object value) throws ReflectiveOperationException {
        Field field = auth.getDeclaredField(name);
        field.setAccessible(true);
        field.set(null, value);
    }

    /** Same shape as TorchServe's own key_file.json, so tools that read it keep working. */
    private static void writeKeyFile(String path, String inference, String management, String api)
            throws IOException {
        String json = "{\n"
                + "  \"management\": {\"key\": \"" + management + "\", \"expiration time\": \"" + NEVER + "\"},\n"
                + "  \"inference\": {\"key\": \"" + inference + "\", \"expiration time\": \"" + NEVER + "\"},\n"
                + "  \"API\": {\"key\": \"" + api + "\"}\n"
                + "}\n";
        Path file = Paths.get(path);
        Files.write(file, json.getBytes(StandardCharsets.UTF_8));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    }

    private static void fail(String message) {
        System.err.println("ConvLens: " + message);
        Runtime.getRuntime().halt(78);
    }
}
