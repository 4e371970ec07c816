#pragma once
// The layers of PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks") and of the gated
// PixelCNN ("Conditional Image Generation with PixelCNN Decoders"): convolutions whose output at pixel
// (i, j) sees only the pixels before it in raster order, so that a stack of them models
// p(x) = prod_i p(x_i | x_<i) in one parallel pass.
//
//   MaskedConv2d(in, out, k, Mask::A | Mask::B)  a k x k convolution (k odd, padding k / 2: the size kept)
//       whose weight is multiplied by a mask: the rows above the centre, and in the centre row the columns
//       left of it (A, for the first layer: the pixel itself is not seen) or up to it (B). Names as
//       Conv2d's (weight [out, in, k, k], bias [out]); the mask is fixed and not in the state_dict.
//   GatedPixelCnnLayer(channels, {k, mask, condition})  one layer of the gated PixelCNN, on a vertical
//       stack v (each output sees the rows up to its own) and a horizontal stack h (the centre row up to
//       the pixel, A or B, plus the vertical stack's outputs of the rows above, shifted down one row): no
//       blind spot. Each stack is gated, tanh(a) * sigmoid(b) of its convolution's two halves; h adds a
//       1x1 convolution of the gate and, for Mask::B, the residual h. With condition = C > 0 a vector
//       [N, C] (a class, a latent z) adds a learned bias per channel to both stacks' gates (the link from
//       the vertical to the horizontal stack reads the vertical convolution before its bias).
//         v_conv  MaskedConv2d [2F, F, k, k], rows <= centre   h_conv  MaskedConv2d [2F, F, k, k], centre row
//         v_to_h  Conv2d 1x1 [2F, 2F]   h_out  Conv2d 1x1 [F, F]   cond_v, cond_h  Linear(C, 2F), no bias
#include <string>
#include <utility>

#include "conv.h"
#include "linear.h"
#include "module.h"

namespace elbo::nn {

enum class Mask { A, B };

// The 0/1 mask [k, k] of a masked convolution: rows above the centre, and the centre row left of the
// centre (A) or up to it (B); vertical: every row up to and including the centre's.
Tensor pixelcnn_mask(int64_t k, Mask type, bool vertical = false);

class MaskedConv2d : public Module {
 public:
  MaskedConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Mask type, bool bias = true,
               Generator& gen = default_generator());
  // Any fixed 0/1 mask [k, k] (the gated layer's vertical and horizontal stacks); `name` for the repr.
  MaskedConv2d(int64_t in_channels, int64_t out_channels, Tensor mask, std::string name, bool bias = true,
               Generator& gen = default_generator());
  Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, H, W]
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;
  const Tensor& weight() const { return weight_; }

 private:
  int64_t in_, out_, k_;
  std::string name_;
  Tensor weight_, bias_, mask_;
};

struct GatedLayerOptions {
  int64_t kernel = 3;      // odd
  Mask mask = Mask::B;     // A for the first layer
  int64_t condition = 0;   // C: the length of the conditioning vector, 0 for none
};

class GatedPixelCnnLayer : public Module {
 public:
  GatedPixelCnnLayer(int64_t channels, GatedLayerOptions o = {}, Generator& gen = default_generator());
  // (v, h) [N, F, H, W] each -> the next (v, h); cond [N, C] when the layer was built with a condition.
  std::pair<Tensor, Tensor> forward(const Tensor& v, const Tensor& h, const Tensor& cond = Tensor()) const;
  std::string extra_repr() const override;

 private:
  int64_t f_;
  GatedLayerOptions o_;
  MaskedConv2d* v_conv_ = nullptr;
  MaskedConv2d* h_conv_ = nullptr;
  Conv2d* v_to_h_ = nullptr;
  Conv2d* h_out_ = nullptr;
  Linear* cond_v_ = nullptr;
  Linear* cond_h_ = nullptr;
};

// x shifted down one row ([N, C, H, W]: row 0 zeros, row i the input's row i - 1).
Tensor shift_down(const Tensor& x);

}  // namespace elbo::nn
