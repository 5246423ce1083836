package dev.herd.kernels;

import java.nio.file.Path;

/**
 * Finds the CPU kernel library ({@link NativeLibraries#locate}): the file named by the system property
 * {@value #PATH_PROPERTY}, or the one built into this module.
 */
final class NativeLibraryFile {
    static final String PATH_PROPERTY = "herd.native.library";
    static final String LIBRARY_NAME = "libherd_kernels.so";

    private NativeLibraryFile() {
    }

    static Path locate() throws NativeUnavailableException {
        try {
            return NativeLibraries.locate(PATH_PROPERTY, LIBRARY_NAME, "native kernels",
                    "gcc was missing when it was built, or this platform is not a built one");
        } catch (NativeLibraries.Missing e) {
            throw new NativeUnavailableException(e.getMessage(), e.getCause());
        }
    }
}
