window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute("data-image-count", String(images.length));
  document.body.setAttribute("data-images-ok", String(ok));
  document.body.setAttribute("data-images-decoded", ok === images.length ? "true" : "false");
});
