//! Building OCI image layouts offline with Debian's umoci.

use std::path::Path;

use super::run;

/// Adds to the layout (created if missing) an image tagged `tag`: one
/// layer per entry of `layers`, each holding the files given (name under
/// the root file system, content), configured as `linux`/`amd64`.
pub fn build_image(layout: &Path, tag: &str, layers: &[&[(&str, &[u8])]]) {
    let image = format!("{}:{tag}", layout.display());
    let bundle = layout.with_file_name(format!("bundle-{tag}"));
    let bundle_s = bundle.display().to_string();
    if !layout.exists() {
        run(
            "umoci",
            &["init", "--layout", &layout.display().to_string()],
        );
    }
    run("umoci", &["new", "--image", &image]);
    for files in layers {
        run(
            "umoci",
            &["unpack", "--rootless", "--image", &image, &bundle_s],
        );
        for (name, content) in *files {
            std::fs::write(bundle.join("rootfs").join(name), content).unwrap();
        }
        run("umoci", &["repack", "--image", &image, &bundle_s]);
        std::fs::remove_dir_all(&bundle).unwrap();
    }
    run(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--architecture",
            "amd64",
            "--os",
            "linux",
        ],
    );
}
